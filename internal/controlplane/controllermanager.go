package controlplane

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
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

func schedulerSpec(bin, dir, kubeconfig string, port int) process.Spec {
	return process.Spec{Name: "kube-scheduler", Path: bin, Args: []string{
		"--kubeconfig=" + kubeconfig,
		"--leader-elect=false",
		"--bind-address=127.0.0.1", "--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, "scheduler-certs"),
	}}
}

// startWithHealthz starts the component spec(port) builds on a free port and waits for its
// /healthz, which it serves with a self-signed certificate of its own (only liveness is asked).
func (cp *ControlPlane) startWithHealthz(ctx context.Context, o Options, step progress.Step, spec func(port int) process.Spec) (*process.Process, error) {
	free, err := pickPorts(1)
	if err != nil {
		return nil, err
	}
	s := spec(free[0])
	p, err := cp.group.Start(s)
	if err != nil {
		return nil, err
	}
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	url := fmt.Sprintf("https://127.0.0.1:%d/healthz", free[0])
	return p, condition.Wait(ctx, condition.Condition{
		Name: s.Name + " /healthz",
		Check: func(ctx context.Context) error {
			select {
			case <-p.Exited():
				return condition.Permanent(fmt.Errorf("%w; last lines of %s:\n%s", p.ExitError(), p.LogPath, p.LogTail(15)))
			default:
			}
			return getOK(ctx, client, url, "", nil)
		},
	}, condition.Poll{Interval: 100 * time.Millisecond, Timeout: o.ReadyTimeout}, condition.StepReporter(step))
}
