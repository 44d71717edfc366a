package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/lab/state"
)

// ProviderName is the local provider's name in requests and LAB_PROVIDER.
const ProviderName = "local"

// Provider runs a local lab: the skeleton provider.Lab with the local backend.
type Provider struct {
	provider.Lab
}

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Platform = (*Provider)(nil)
	_ provider.Network  = (*Provider)(nil)
)

// New returns the provider of the local lab req under the state root.
func New(root string, req state.Request) *Provider {
	return &Provider{Lab: provider.Lab{Root: root, Request: req, Backend: backend{}}}
}

// transient are the lab directory's parts that live only as long as a daemon: the operator
// runner's extracted image. The artifacts the cluster's objects point at stay, with their
// addresses (facts), so a resumed lab serves them again at once.
var transient = []string{"operator"}

type backend struct{}

// Check implements provider.Backend: a kwok-only lab needs nothing but Go and the binaries
// cache; a real node needs root and its Debian packages (the error names the apt-get command).
func (backend) Check(req state.Request) error {
	if !req.RealNode() {
		return nil
	}
	if err := realnode.CheckPrerequisites(); err != nil {
		return fmt.Errorf("%w (or run a lab without its real node: LAB_LOCAL_NODES=kwok)", err)
	}
	return nil
}

// Clean implements provider.Backend: it stops every process that mentions the lab directory
// (a daemon killed with SIGKILL takes its children along through Pdeathsig; these catch the
// rest) and removes what lives only as long as a daemon. The control plane's directory (etcd's
// data, credentials) stays for the next up; Down removes the whole lab directory after this.
func (backend) Clean(ctx context.Context, store *state.Store, step progress.Step, _ bool) error {
	var errs []error
	left, err := process.FindMentioning(store.Dir())
	errs = append(errs, err)
	for _, r := range left {
		if r.Pid == os.Getpid() || strings.HasPrefix(filepath.Base(r.Exe), "containerd-shim") {
			continue // the real node's shims ignore SIGTERM: realnode.Clean kills them below
		}
		step.Status("stopping %s (pid %d)", filepath.Base(r.Exe), r.Pid)
		errs = append(errs, r.Identity().Terminate(ctx, 5*time.Second))
	}
	for _, sub := range transient {
		errs = append(errs, os.RemoveAll(filepath.Join(store.Dir(), sub)))
	}
	// The real node's containers outlive its daemon (their shims are detached): they go in
	// either case, as on a rebooted node; a resumed lab starts its pods again.
	if f, err := state.LoadFacts[facts](store); err != nil {
		errs = append(errs, err)
	} else if f.Node != nil {
		step.Status("cleaning the real node (containers, mounts, link %s)", f.Node.HostLink)
		errs = append(errs, realnode.Clean(filepath.Join(store.Dir(), nodeDirName), *f.Node))
	}
	return errors.Join(errs...)
}

// Describe implements provider.Backend: every process of the lab and the simulated nodes.
func (backend) Describe(store *state.Store, st *provider.Status) {
	procs, _ := process.Recorded(filepath.Join(store.Dir(), controlPlaneDirName))
	latest := map[string]int{} // a restarted process (the operator) is shown once, as it runs now
	for i, r := range procs {
		latest[r.Name] = i
	}
	for i, r := range procs {
		if latest[r.Name] != i {
			continue
		}
		st.Components = append(st.Components, provider.Component{Name: r.Name, Running: r.Running(),
			Detail: fmt.Sprintf("pid %d, log %s", r.Pid, filepath.Join(store.Dir(), controlPlaneDirName, r.Name+".log"))})
	}
	if f, _ := state.LoadFacts[facts](store); f.Registry != "" {
		st.Components = append(st.Components, provider.Component{Name: "registry", Running: st.Phase == "up", Detail: f.Registry})
	}
	if f, _ := state.LoadFacts[facts](store); f.Page != "" {
		st.Components = append(st.Components, provider.Component{Name: "lab page", Running: st.Phase == "up",
			Detail: f.Page + " (open it through go run mage.go proxy)"})
	}
	for _, n := range DefaultNodes {
		st.Nodes = append(st.Nodes, provider.Node{Name: n.Name, Address: "kwok (simulated)", Role: "control-plane"})
	}
	if f, _ := state.LoadFacts[facts](store); f.Node != nil {
		st.Nodes = append(st.Nodes, provider.Node{Name: realnode.NodeName, Address: f.Node.Node.String(),
			Role: "worker (real: containerd, kubelet; runs the lab's own pods)"})
	}
}

// CollectLogs implements provider.Backend: every process log of the lab (control plane, kwok,
// Flux, operator), each copy bounded by ctx.
func (backend) CollectLogs(ctx context.Context, store *state.Store, dir string) error {
	logs, _ := filepath.Glob(filepath.Join(store.Dir(), controlPlaneDirName, "*.log"))
	var errs []error
	for _, l := range logs {
		if ctx.Err() != nil {
			return errors.Join(append(errs, fmt.Errorf("collect logs: %w", ctx.Err()))...)
		}
		errs = append(errs, provider.CopyLog(l, filepath.Join(dir, filepath.Base(l))))
	}
	return errors.Join(errs...)
}

// CanRunPlatform implements provider.Platform: the local lab runs the platform.
func (p *Provider) CanRunPlatform() error { return nil }

// facts reads the lab's recorded facts.
func (p *Provider) facts() (facts, *state.Store, error) {
	store, err := p.Open()
	if err != nil {
		return facts{}, nil, err
	}
	f, err := state.LoadFacts[facts](store)
	return f, store, err
}

// Registry implements provider.Platform: the host:port of the lab's artifact registry.
func (p *Provider) Registry() (string, error) {
	f, _, err := p.facts()
	if err != nil {
		return "", err
	}
	if f.Registry == "" {
		return "", fmt.Errorf("lab %s has no registry: it is not up (go run mage.go lab:up)", p.Request.Name)
	}
	return f.Registry, nil
}

// ClusterRegistry is Registry: the local cluster's controllers run on this machine.
func (p *Provider) ClusterRegistry() (string, error) { return p.Registry() }

// OperatorVariant is "hosted": the operator reaches the API server through the in-cluster
// Service (a pod on the real node, through kube-proxy) or, in a kwok-only lab, through the
// runner's kubeconfig; no node-local endpoint is needed either way.
func (p *Provider) OperatorVariant() string { return "hosted" }

// PageURL is the lab page's address, in the lab's network (reach it through the proxy).
func (p *Provider) PageURL() (string, error) {
	f, _, err := p.facts()
	if err != nil {
		return "", err
	}
	if f.Page == "" {
		return "", fmt.Errorf("lab %s serves no page: it is not up (go run mage.go lab:up)", p.Request.Name)
	}
	return f.Page, nil
}

// Dialer implements provider.Network: with a real node, dials from inside its network
// namespace (pods, Service IPs through its kube-proxy, names through the cluster DNS; the node
// names node1 and srv1–3 as themselves); a kwok-only lab has no network of its own beyond this
// host's loopback, so it dials on the host.
func (p *Provider) Dialer() (func(ctx context.Context, network, address string) (net.Conn, error), error) {
	f, store, err := p.facts()
	if err != nil {
		return nil, err
	}
	if st, err := p.Status(context.Background()); err != nil || st.Phase != "up" {
		return nil, fmt.Errorf("lab %s is not up (go run mage.go lab:up)", p.Request.Name)
	}
	if f.Node == nil {
		var d net.Dialer
		return d.DialContext, nil
	}
	hosts := map[string]netip.Addr{realnode.NodeName: f.Node.Node}
	return realnode.Dialer(filepath.Join(store.Dir(), nodeDirName), ClusterDNS, hosts), nil
}
