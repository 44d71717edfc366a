package controlplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cozylab/cozylab/lab/condition"
	"github.com/cozylab/cozylab/lab/process"
	"github.com/cozylab/cozylab/lab/progress"
)

func controllerManagerSpec(bin, dir, kubeconfig string, port int, c credentials, serviceCIDR string) process.Spec {
	return process.Spec{Name: "kube-controller-manager", Path: bin, Args: []string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, "kcm-certs"),
		"--service-account-private-key-file=" + c.saKey,
		"--root-ca-file=" + c.caCert,
		"--cluster-signing-cert-file=" + c.caCert, "--cluster-signing-key-file=" + c.caKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--use-service-account-credentials=false",
	}}
}

// startControllerManager starts kube-controller-manager and waits for its /healthz.
func (cp *ControlPlane) startControllerManager(ctx context.Context, o Options, c credentials, step progress.Step) error {
	free, err := pickPorts(1)
	if err != nil {
		return err
	}
	if cp.kcm, err = cp.group.Start(controllerManagerSpec(o.ControllerManager, cp.Dir, cp.Kubeconfig, free[0], c, o.ServiceCIDR)); err != nil {
		return err
	}
	// It serves /healthz with a self-signed certificate of its own; only liveness is asked here.
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", free[0])
	return condition.Poll(ctx, step, condition.Condition{
		Name: "kube-controller-manager /healthz",
		Check: func(ctx context.Context) (bool, string, error) {
			select {
			case <-cp.kcm.Exited():
				return false, "", fmt.Errorf("%w; last lines of %s:\n%s", cp.kcm.ExitError(), cp.kcm.LogPath, cp.kcm.LogTail(15))
			default:
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return false, "", err
			}
			resp, err := client.Do(req)
			if err != nil {
				return false, "not answering yet", nil
			}
			resp.Body.Close()
			return resp.StatusCode == http.StatusOK, fmt.Sprintf("HTTP %d", resp.StatusCode), nil
		},
	}, 100*time.Millisecond, o.ReadyTimeout)
}
