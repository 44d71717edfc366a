package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/state"
)

// ProviderName is the QEMU provider's name in requests and LAB_PROVIDER.
const ProviderName = "qemu"

// Provider runs a QEMU lab: the skeleton provider.Lab with the QEMU backend.
type Provider struct {
	provider.Lab
}

var (
	_ provider.Provider = (*Provider)(nil)
	_ provider.Platform = (*Provider)(nil)
	_ provider.Console  = (*Provider)(nil)
)

// New returns the provider of the QEMU lab req under the state root.
func New(root string, req state.Request) *Provider {
	return &Provider{Lab: provider.Lab{Root: root, Request: req, Backend: backend{}}}
}

// CanRunPlatform implements provider.Platform: both node images run the platform's pods — a
// real Talos node, and a twin with its kubelet on containerd.
func (p *Provider) CanRunPlatform() error { return nil }

// TCGSlowdown is how much longer than native the platform's steps take on twins under TCG
// (measured on a 2-core host: pulls, controller starts and chart installs take 3–5 times as
// long); the e2e pipeline's wait bounds are multiplied by it.
const TCGSlowdown = 4

var _ provider.Paced = (*Provider)(nil)

// Slowdown implements provider.Paced: TCGSlowdown under TCG, 1 with KVM.
func (p *Provider) Slowdown() int {
	if q := p.Request.QEMU; q != nil && q.KVM {
		return 1
	}
	return TCGSlowdown
}

type backend struct{}

// Check implements provider.Backend: the request's node image and Talos options, root, QEMU
// and a guest kernel.
func (backend) Check(req state.Request) error {
	if req.QEMU == nil {
		return fmt.Errorf("lab %s: a QEMU lab needs its QEMU request", req.Name)
	}
	if err := Prerequisites(req.QEMU.NodeImage); err != nil {
		return err
	}
	if req.QEMU.NodeImage == NodeImageTalos {
		if _, err := talosOptions(req.QEMU.Talos).WithDefaults(); err != nil {
			return err
		}
	}
	return nil
}

// Clean implements provider.Backend: it stops any VM a killed daemon left (from its pidfile)
// and any process of the run directory; with all, it also removes the network and restores
// forwarding, from the recorded names (or the lab name alone).
func (backend) Clean(ctx context.Context, store *state.Store, step progress.Step, all bool) error {
	var errs []error
	image := NodeImageTwin
	if q := store.Request().QEMU; q != nil {
		image = q.NodeImage
	}
	for _, name := range NodeNames(NodeCount) {
		step.Status("stopping VM %s", name)
		errs = append(errs, stopFromPidfile(ctx, store.Dir(), name, image))
	}
	// A daemon killed with SIGKILL takes its children along (Pdeathsig); this catches the rest.
	if _, err := process.Sweep(filepath.Join(store.Dir(), "run")); err != nil {
		errs = append(errs, err)
	}
	if all {
		step.Status("removing the lab network")
		errs = append(errs, downNetwork(ctx, store, store.Request().Name))
	}
	return errors.Join(errs...)
}

// Describe implements provider.Backend: the registry, and each node with its VM.
func (backend) Describe(store *state.Store, st *provider.Status) {
	f, _ := state.LoadFacts[facts](store)
	if f.Registry != "" {
		st.Components = append(st.Components, provider.Component{Name: "artifact registry", Running: st.Phase == "up",
			Detail: fmt.Sprintf("%s (harness), %s (nodes), in the lab daemon", f.Registry, f.ClusterRegistry)})
	}
	req := store.Request()
	image, accel := NodeImageTwin, "TCG"
	if req.QEMU != nil {
		image = req.QEMU.NodeImage
		if req.QEMU.KVM {
			accel = "KVM"
		}
	}
	for i, name := range NodeNames(NodeCount) {
		addr := "not planned yet"
		if f.Network != nil && i < len(f.Network.Nodes) {
			addr = f.Network.Nodes[i].Addr.String()
		}
		st.Nodes = append(st.Nodes, provider.Node{Name: name, Address: addr, Role: "control-plane"})
		paths := NodePaths(store.Dir(), name)
		pid, _ := runningQEMU(paths.Pidfile)
		st.Components = append(st.Components, provider.Component{Name: "VM " + name, Running: pid != 0,
			Detail: fmt.Sprintf("pid %d, %s %s, serial %s", pid, image, accel, paths.Serial)})
	}
}

var _ provider.Network = (*Provider)(nil)

// Dialer implements provider.Network: the nodes sit on the lab's bridge, which this host
// routes, so it dials from here; the names the lab gives — its node names (srv1, …) and "vip",
// the control plane's shared address — are resolved from its network plan, other names as the
// host resolves them.
func (p *Provider) Dialer() (func(ctx context.Context, network, address string) (net.Conn, error), error) {
	store, err := p.Open()
	if err != nil {
		return nil, err
	}
	plan, err := recordedPlan(store)
	if err != nil {
		return nil, err
	}
	if len(plan.Nodes) == 0 {
		return nil, fmt.Errorf("lab %s has no network yet (go run mage.go lab:up)", p.Request.Name)
	}
	hosts := map[string]netip.Addr{"vip": plan.VIP}
	for i, name := range NodeNames(len(plan.Nodes)) {
		hosts[name] = plan.Nodes[i].Addr
	}
	var d net.Dialer
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		if a, ok := hosts[strings.TrimSuffix(host, ".")]; ok {
			address = net.JoinHostPort(a.String(), port)
		}
		return d.DialContext(ctx, network, address)
	}, nil
}
