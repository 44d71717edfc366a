package twin

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
)

// healthTimeout bounds one health check made for ServiceList: a busy TCG guest answers in
// seconds, not milliseconds.
const healthTimeout = 5 * time.Second

// startAPIServer waits (bounded) for the bootstrapped etcd to be healthy, then starts
// kube-apiserver. A failure is kept for Services to report.
func (n *ProcessNode) startAPIServer(ctx context.Context) {
	err := n.waitEtcdHealthy(ctx)
	if err == nil {
		err = n.launchAPIServer()
	}

	if err != nil {
		n.mu.Lock()
		n.apiErr = err
		n.mu.Unlock()
		n.log("kube-apiserver: %v", err)

		return
	}

	n.log("kube-apiserver: started")

	if n.opts.Kube == nil {
		return
	}

	// The node's Kubernetes programs start once its API server is ready: started beside it,
	// they compete for the CPU it needs to come up (a TCG guest has little), and the controller
	// manager exits when the API server does not answer in time.
	if err := n.waitAPIServerReady(ctx); err != nil {
		return
	}

	n.log("kube-apiserver: ready")

	if err := n.startKube(); err != nil {
		n.mu.Lock()
		n.kubeErr = err
		n.mu.Unlock()
		n.log("kubernetes: %v", err)
	}
}

// waitAPIServerReady polls the local kube-apiserver's /readyz until it passes or the node
// stops: it is the node's standing behaviour, as a Talos node waits for its API server.
func (n *ProcessNode) waitAPIServerReady(ctx context.Context) error {
	n.mu.Lock()
	admin := n.admin
	n.mu.Unlock()

	return waitReady(ctx, admin, httpsURL(n.opts.Address, apiServerPort))
}

// waitReady polls the /readyz of the API server at base until it passes or ctx ends.
func waitReady(ctx context.Context, admin *tls.Config, base string) error {
	ticker := time.NewTicker(2 * time.Second)
	defer ticker.Stop()

	for {
		if readyzAt(ctx, admin, base, readyWaitTimeout) == nil {
			return nil
		}

		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ticker.C:
		}
	}
}

// readyWaitTimeout bounds one /readyz request of a wait: a starting API server under TCG is slow
// to answer.
const readyWaitTimeout = 10 * time.Second

// startJoinedAPIServer starts the API server of a node that joined the cluster, once the
// cluster's own (on its endpoint) is ready: the first API server creates the cluster's
// default objects, and three starting at once on a small host each take far longer.
func (n *ProcessNode) startJoinedAPIServer(ctx context.Context) {
	n.mu.Lock()
	cfg, facts := n.cfg, n.facts
	n.mu.Unlock()

	admin, err := writeAPIServerPKI(cfg, n.layout, n.opts.Hostname, n.opts.Address, facts)
	if err == nil {
		url := cfg.Cluster().Endpoint().String()
		n.log("kube-apiserver: waiting for the cluster's API server at %s to be ready first", url)

		if waitReady(ctx, admin, url) != nil {
			return // the node stopped
		}
	}

	n.startAPIServer(ctx)
}

// waitEtcdHealthy polls etcd's /health until it passes or etcdReadyTimeout ends.
func (n *ProcessNode) waitEtcdHealthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, etcdReadyTimeout)
	defer cancel()

	ticker := time.NewTicker(500 * time.Millisecond)
	defer ticker.Stop()

	for {
		err := n.gatewayHealth(ctx)
		if err == nil {
			return nil
		}

		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for etcd to be healthy: %w (last: %w)", ctx.Err(), err)
		case <-ticker.C:
		}
	}
}

func (n *ProcessNode) gatewayHealth(ctx context.Context) error {
	n.mu.Lock()
	gw := n.gateway
	n.mu.Unlock()

	ctx, cancel := context.WithTimeout(ctx, healthTimeout)
	defer cancel()

	return gw.health(ctx, httpsURL(n.opts.Address, etcdClientPort))
}

func (n *ProcessNode) launchAPIServer() error {
	n.mu.Lock()
	defer n.mu.Unlock()

	if n.stopped {
		return errors.New("start kube-apiserver: the node is shutting down")
	}

	admin, err := writeAPIServerPKI(n.cfg, n.layout, n.opts.Hostname, n.opts.Address, n.facts)
	if err != nil {
		return fmt.Errorf("start kube-apiserver: %w", err)
	}

	args := apiServerArgs(n.layout, n.opts.Address, n.facts)

	c, err := startChild("kube-apiserver", n.opts.APIServerPath, args, n.layout.log("kube-apiserver"))
	if err != nil {
		return err
	}

	n.admin, n.apiserver = admin, c

	return nil
}

// Services implements Node: etcd once the node has a config (Preparing while it waits to join
// or be bootstrapped), kube-apiserver once started, each with a live health check.
func (n *ProcessNode) Services(ctx context.Context) ([]Service, error) {
	n.mu.Lock()
	cfg, etcd, apiserver, admin := n.cfg, n.etcd, n.apiserver, n.admin
	joinErr, apiErr, kubeErr := n.joinErr, n.apiErr, n.kubeErr
	n.mu.Unlock()

	if cfg == nil {
		return nil, nil
	}

	// The health checks run at once (see kubeServices), each bounded by healthTimeout.
	var (
		etcdSvc, apiSvc *Service
		kube            []Service
		wg              sync.WaitGroup
	)

	if etcd == nil {
		msg := "waiting to join the etcd cluster or to be bootstrapped"
		if joinErr != nil {
			msg += ": " + joinErr.Error()
		}

		etcdSvc = &Service{ID: "etcd", State: "Preparing", HealthUnknown: true, Message: msg}
	} else {
		wg.Go(func() { s := childService(ctx, "etcd", etcd, n.gatewayHealth); etcdSvc = &s })
	}

	if apiserver != nil {
		wg.Go(func() {
			s := childService(ctx, "kube-apiserver", apiserver, func(ctx context.Context) error {
				return n.readyz(ctx, admin)
			})
			apiSvc = &s
		})
	} else if apiErr != nil {
		apiSvc = &Service{ID: "kube-apiserver", State: "Failed", Message: apiErr.Error()}
	}

	wg.Go(func() { kube = n.kubeServices(ctx) })
	wg.Wait()

	out := []Service{*etcdSvc}
	if apiSvc != nil {
		out = append(out, *apiSvc)
	}

	if kubeErr != nil {
		out = append(out, Service{ID: "kubelet", State: "Failed", Message: kubeErr.Error()})
	}

	return append(out, kube...), nil
}

// childService reports a started process: Finished or Failed once it exited, else Running with
// the result of check.
func childService(ctx context.Context, id string, c *child, check func(context.Context) error) Service {
	if done, err := c.exited(); done {
		if err != nil {
			return Service{ID: id, State: "Failed", Message: fmt.Sprintf("%s exited: %v", id, err)}
		}

		return Service{ID: id, State: "Finished", Message: id + " exited"}
	}

	if err := check(ctx); err != nil {
		return Service{ID: id, State: "Running", Message: c.withCPU(err.Error())}
	}

	return Service{ID: id, State: "Running", Healthy: true, Message: c.withCPU("Health check successful")}
}

// readyz asks the local kube-apiserver's /readyz as the cluster admin.
func (n *ProcessNode) readyz(ctx context.Context, admin *tls.Config) error {
	return readyzAt(ctx, admin, httpsURL(n.opts.Address, apiServerPort), healthTimeout)
}

// readyzAt asks the /readyz of the API server at base as the cluster admin.
func readyzAt(ctx context.Context, admin *tls.Config, base string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	url := base + "/readyz"

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build readyz request: %w", err)
	}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: admin, DisableKeepAlives: true}}

	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("check kube-apiserver readiness: %w", err)
	}
	defer resp.Body.Close()

	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096)) //nolint:errcheck // best effort detail

		return fmt.Errorf("kube-apiserver is not ready: %s: %s", resp.Status, body)
	}

	return nil
}
