package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/process"
)

// FluxNamespace is the namespace the local Flux controllers run "in" (RUNTIME_NAMESPACE).
const FluxNamespace = "flux-system"

// FluxAddrs are the loopback addresses of one Flux controller run outside a cluster: the
// defaults (":8080", ":9440") would collide between controllers.
type FluxAddrs struct {
	Metrics, Health string
	// Storage serves source-controller's artifacts (also advertised in artifact URLs).
	Storage string
}

// fluxArgs are what every Flux controller needs outside a cluster: no leader election, no event
// forwarding, its own metrics and health addresses. The kubeconfig comes through KUBECONFIG:
// the controllers have no flag for it.
func fluxArgs(a FluxAddrs) []string {
	return []string{"--watch-all-namespaces=true", "--enable-leader-election=false", "--events-addr=",
		"--log-encoding=console", "--metrics-addr=" + a.Metrics, "--health-addr=" + a.Health}
}

func fluxEnv(kubeconfig string) []string {
	return []string{"KUBECONFIG=" + kubeconfig, "RUNTIME_NAMESPACE=" + FluxNamespace}
}

// SourceControllerSpec runs source-controller with its artifact storage in storageDir (which
// must exist: source-controller refuses a missing path) served on a.Storage.
func SourceControllerSpec(bin, kubeconfig, storageDir string, a FluxAddrs) process.Spec {
	return process.Spec{Name: bincache.SourceController, Path: bin, Env: fluxEnv(kubeconfig),
		Args: append(fluxArgs(a), "--storage-path="+storageDir, "--storage-addr="+a.Storage, "--storage-adv-addr="+a.Storage)}
}

// HelmControllerSpec runs helm-controller with the ExternalArtifact feature gate, which the
// operator's HelmReleases need (their charts are ExternalArtifacts), and re-checks a release
// waiting on a dependency every RequeueDependency instead of Flux's 30 s: in a lab, releases
// wait on each other in chains, and each link otherwise idles up to 30 s after its dependency
// is Ready.
func HelmControllerSpec(bin, kubeconfig string, a FluxAddrs) process.Spec {
	return process.Spec{Name: bincache.HelmController, Path: bin, Env: fluxEnv(kubeconfig),
		Args: append(fluxArgs(a), "--feature-gates=ExternalArtifact=true", "--requeue-dependency="+RequeueDependency.String())}
}

// RequeueDependency is how often the lab's helm-controller re-checks a release's dependencies.
const RequeueDependency = 5 * time.Second

// Readyz is the condition "<name> /readyz": HTTP 200 from a controller's health address while
// it lives; its exit ends the wait with the end of its log.
func Readyz(p *process.Process, addr string) condition.Condition {
	client := &http.Client{Timeout: 2 * time.Second}
	return condition.Condition{
		Name: p.Name + " /readyz",
		Check: func(ctx context.Context) error {
			select {
			case <-p.Exited():
				return condition.Permanent(fmt.Errorf("%w; last lines of %s:\n%s", p.ExitError(), p.LogPath, p.LogTail(15)))
			default:
			}
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/readyz", nil)
			if err != nil {
				return condition.Permanent(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				return errors.New("not answering yet")
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			return fmt.Errorf("HTTP %d %s", resp.StatusCode, body)
		},
	}
}

// LoopbackAddrs returns n distinct free 127.0.0.1 addresses, prefer[i] for the i-th when it is
// free (a resumed lab keeps the addresses its objects name). Another program may take one
// before the controller it is meant for binds it; that controller then exits, and Readyz
// reports its log.
func LoopbackAddrs(n int, prefer ...string) ([]string, error) {
	var out []string
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range n {
		if i < len(prefer) && prefer[i] != "" {
			if l, err := net.Listen("tcp", prefer[i]); err == nil {
				ls = append(ls, l)
				out = append(out, l.Addr().String())
				continue
			}
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free loopback port: %w", err)
		}
		ls = append(ls, l) // held until all are picked, so the n ports differ
		out = append(out, l.Addr().String())
	}
	return out, nil
}
