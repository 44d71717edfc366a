// Package choose decides a lab's Request once, at the edge, from what the user set (a
// magefile target or a command reads the environment and flags into Settings): the lab's
// name, its provider (auto: QEMU only where a guest really runs under KVM, probed at most
// once), the QEMU node image and sizes, the Talos image. The request is saved in the lab's
// state; the daemon and the providers read it from there. It also opens the provider of a
// request.
package choose

import (
	"cmp"
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/qemu"
	"github.com/cozylab/cozylab/lab/state"
)

// DefaultName is the lab name when none is set.
const DefaultName = "dev"

// Settings are the user's choices, as set (LAB_NAME, LAB_PROVIDER, LAB_NODE_IMAGE, ...);
// empty fields take defaults.
type Settings struct {
	// Name is the lab's name; DefaultName when empty.
	Name string
	// Provider is auto, local or qemu; auto when empty.
	Provider string
	// Root is the state root; state.Root() when empty.
	Root string
	// RepoRoot is the module checkout the daemon is built from.
	RepoRoot string
	// NodeImage is twin or talos for the QEMU provider; empty: talos where KVM works, else twin.
	NodeImage string
	// MemoryMiB and CPUs size each QEMU node; the node image's defaults when zero.
	MemoryMiB, CPUs int
	// Talos chooses the Talos image (NodeImage talos).
	Talos state.TalosImage
	// SimulatedWebhooks is "fail" (the default: webhooks as their charts say) or "ignore"
	// (failurePolicy Ignore on webhooks only simulated pods serve; local labs).
	SimulatedWebhooks string
	// LocalNodes is "real" (the default: a real node beside the simulated ones) or "kwok"
	// (simulated nodes only) for local labs.
	LocalNodes string
	// ProbeKVM reports whether a guest really runs under KVM here, and why; qemu.ProbeKVM
	// when nil. Decide calls it at most once.
	ProbeKVM func(ctx context.Context) (bool, string)
}

// Lab is a decided lab: its state root and request.
type Lab struct {
	Root    string
	Request state.Request
}

// Provider opens the lab's provider.
func (l Lab) Provider() provider.Provider {
	switch l.Request.Provider {
	case qemu.ProviderName:
		return qemu.New(l.Root, l.Request)
	default:
		return local.New(l.Root, l.Request)
	}
}

// Decide makes the request of a lab to bring up. An existing lab keeps its request (its
// provider, node image and sizes; no probe); a setting that contradicts it is refused, naming
// the command that removes the lab.
func Decide(ctx context.Context, s Settings) (Lab, error) {
	lab, existing, err := open(s)
	if err != nil || existing {
		return lab, err
	}
	kind := strings.ToLower(strings.TrimSpace(s.Provider))
	req := &lab.Request
	req.ProviderReason = "LAB_PROVIDER=" + kind
	probe := onceProbe(s.ProbeKVM)
	switch kind {
	case "", "auto":
		if ok, why := probe(ctx); ok {
			req.Provider, req.ProviderReason = qemu.ProviderName, "qemu provider: "+why
		} else {
			req.Provider, req.ProviderReason = local.ProviderName, "local provider (no KVM guest can run here: "+why+")"
		}
	case local.ProviderName, qemu.ProviderName:
		req.Provider = kind
	default:
		return Lab{}, fmt.Errorf("LAB_PROVIDER=%q: want auto, local or qemu", s.Provider)
	}
	switch s.SimulatedWebhooks {
	case "", "fail":
	case "ignore":
		if req.Provider != local.ProviderName {
			return Lab{}, fmt.Errorf("LAB_SIMULATED_WEBHOOKS=ignore is for local labs, whose pods kwok simulates; this lab runs on the %s provider", req.Provider)
		}
		req.IgnoreSimulatedWebhooks = true
	default:
		return Lab{}, fmt.Errorf("LAB_SIMULATED_WEBHOOKS=%q: want fail (the default) or ignore", s.SimulatedWebhooks)
	}
	switch mode := strings.ToLower(strings.TrimSpace(s.LocalNodes)); mode {
	case "", state.LocalNodesReal:
		if req.Provider == local.ProviderName {
			req.LocalNodes = state.LocalNodesReal
		}
	case state.LocalNodesKwok:
		if req.Provider != local.ProviderName {
			return Lab{}, fmt.Errorf("LAB_LOCAL_NODES=kwok is for local labs; this lab runs on the %s provider", req.Provider)
		}
		req.LocalNodes = mode
	default:
		return Lab{}, fmt.Errorf("LAB_LOCAL_NODES=%q: want real (the default) or kwok", s.LocalNodes)
	}
	if req.Provider == qemu.ProviderName {
		q, err := qemuRequest(ctx, s, probe)
		if err != nil {
			return Lab{}, err
		}
		req.QEMU = q
	}
	return lab, nil
}

// Existing is the lab to take down, show or read: its saved request, or, for a lab that does
// not exist, a request of the provider set (local by default) that finds nothing. It never
// probes.
func Existing(s Settings) (Lab, error) {
	lab, existing, err := open(s)
	if err != nil || existing {
		return lab, err
	}
	switch kind := strings.ToLower(strings.TrimSpace(s.Provider)); kind {
	case "", "auto":
		lab.Request.Provider = local.ProviderName
	case local.ProviderName, qemu.ProviderName:
		lab.Request.Provider = kind
	default:
		return Lab{}, fmt.Errorf("LAB_PROVIDER=%q: want auto, local or qemu", s.Provider)
	}
	return lab, nil
}

// open validates the name and root, and loads the lab's saved request when it exists.
func open(s Settings) (Lab, bool, error) {
	name := cmp.Or(s.Name, DefaultName)
	if err := state.ValidateName(name); err != nil {
		return Lab{}, false, fmt.Errorf("LAB_NAME: %w", err)
	}
	root := s.Root
	if root == "" {
		var err error
		if root, err = state.Root(); err != nil {
			return Lab{}, false, err
		}
	}
	repo, err := filepath.Abs(cmp.Or(s.RepoRoot, "."))
	if err != nil {
		return Lab{}, false, fmt.Errorf("find the repository root: %w", err)
	}
	store, err := state.Open(root, name)
	if err != nil {
		return Lab{}, false, err
	}
	if !store.Exists() {
		return Lab{Root: root, Request: state.Request{Name: name, RepoRoot: repo}}, false, nil
	}
	req := store.Request()
	req.ProviderReason = fmt.Sprintf("lab %s already exists on the %s provider", name, req.Provider)
	req.RepoRoot = repo
	if err := sameAsSaved(s, req); err != nil {
		return Lab{}, false, err
	}
	return Lab{Root: root, Request: req}, true, nil
}

// sameAsSaved refuses settings that contradict an existing lab's request.
func sameAsSaved(s Settings, saved state.Request) error {
	kind := strings.ToLower(strings.TrimSpace(s.Provider))
	if kind != "" && kind != "auto" && kind != saved.Provider {
		return fmt.Errorf("lab %s exists with provider %s, not %s: run `LAB_NAME=%s go run mage.go lab:down` first",
			saved.Name, saved.Provider, kind, saved.Name)
	}
	if s.NodeImage != "" && saved.QEMU != nil && s.NodeImage != saved.QEMU.NodeImage {
		return fmt.Errorf("QEMU lab %s is up with the %s image, not %s: remove it first with `LAB_NAME=%s go run mage.go lab:down`",
			saved.Name, saved.QEMU.NodeImage, s.NodeImage, saved.Name)
	}
	return nil
}

// qemuRequest decides the QEMU part: accelerator (the one probe), node image, sizes, Talos.
func qemuRequest(ctx context.Context, s Settings, probe func(context.Context) (bool, string)) (*state.QEMURequest, error) {
	q := &state.QEMURequest{NodeImage: s.NodeImage, Talos: s.Talos}
	q.KVM, q.KVMReason = probe(ctx)
	switch {
	case q.NodeImage == qemu.NodeImageTwin || q.NodeImage == qemu.NodeImageTalos:
		q.NodeImageReason = "node image " + q.NodeImage + " (LAB_NODE_IMAGE)"
	case q.NodeImage != "":
		return nil, fmt.Errorf("LAB_NODE_IMAGE=%s is not a node image: use %s (the default, boots anywhere) or %s (real Talos, for a KVM host)",
			q.NodeImage, qemu.NodeImageTwin, qemu.NodeImageTalos)
	case q.KVM:
		q.NodeImage, q.NodeImageReason = qemu.NodeImageTalos, "node image talos (KVM works; LAB_NODE_IMAGE=twin for the Talos twin)"
	default:
		q.NodeImage, q.NodeImageReason = qemu.NodeImageTwin, "node image twin (no Talos image can run without KVM here; LAB_NODE_IMAGE=talos to try anyway)"
	}
	q.MemoryMiB, q.CPUs = qemu.NodeSize(q.NodeImage)
	if s.MemoryMiB > 0 {
		q.MemoryMiB = s.MemoryMiB
	}
	if s.CPUs > 0 {
		q.CPUs = s.CPUs
	}
	return q, nil
}

// onceProbe calls probe (qemu.ProbeKVM when nil) at most once and remembers its answer.
func onceProbe(probe func(context.Context) (bool, string)) func(context.Context) (bool, string) {
	if probe == nil {
		probe = qemu.ProbeKVM
	}
	var done, ok bool
	var why string
	return func(ctx context.Context) (bool, string) {
		if !done {
			ok, why = probe(ctx)
			done = true
		}
		return ok, why
	}
}
