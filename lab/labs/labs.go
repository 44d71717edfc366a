// Package labs picks the provider a lab command uses, from LAB_PROVIDER (auto, local or qemu)
// and LAB_NAME, and says why it picked it.
package labs

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/qemu"
	"github.com/cozylab/cozylab/lab/state"
)

// DefaultName is the lab name when LAB_NAME is unset.
const DefaultName = "dev"

// Choice is the provider picked and the one-line reason.
type Choice struct {
	Provider provider.Provider
	Reason   string
}

// Options are the inputs of Select (normally from the environment; see FromEnv).
type Options struct {
	// Provider is auto, local or qemu; auto when empty.
	Provider string
	// Name is the lab's name; DefaultName when empty.
	Name string
	// Root is the state root; state.Root() when empty.
	Root string
	// RepoRoot is the module checkout (builds the lab daemon and the images).
	RepoRoot string
	// ProbeKVM reports whether a guest really runs under KVM here, and why (nil: no KVM).
	ProbeKVM func(ctx context.Context) (bool, string)
	// NodeImage is LAB_NODE_IMAGE for the QEMU provider: twin, talos, or empty — then talos
	// where a guest runs under KVM, the twin elsewhere.
	NodeImage string
}

// FromEnv reads LAB_PROVIDER and LAB_NAME, and probes KVM with the QEMU provider's probe.
func FromEnv(repoRoot string) Options {
	return Options{Provider: os.Getenv("LAB_PROVIDER"), Name: os.Getenv("LAB_NAME"), RepoRoot: repoRoot, ProbeKVM: qemu.ProbeKVM,
		NodeImage: os.Getenv("LAB_NODE_IMAGE")}
}

// Select returns the provider for o. An existing lab of that name keeps its provider under
// auto, so `lab:down` removes what `lab:up` made.
func Select(ctx context.Context, o Options) (Choice, error) {
	if o.Name == "" {
		o.Name = DefaultName
	}
	if err := state.ValidateName(o.Name); err != nil {
		return Choice{}, fmt.Errorf("LAB_NAME: %w", err)
	}
	if o.Root == "" {
		root, err := state.Root()
		if err != nil {
			return Choice{}, err
		}
		o.Root = root
	}
	kind := strings.ToLower(strings.TrimSpace(o.Provider))
	reason := "LAB_PROVIDER=" + kind
	if kind == "" || kind == "auto" {
		kind, reason = auto(ctx, o)
	}
	switch kind {
	case local.ProviderName:
		return Choice{Provider: &local.Provider{Lab: o.Name, Root: o.Root, RepoRoot: o.RepoRoot}, Reason: reason}, nil
	case qemu.ProviderName:
		image, why := nodeImage(ctx, o)
		return Choice{Provider: &qemu.Provider{Lab: o.Name, Root: o.Root, RepoRoot: o.RepoRoot, NodeImage: image},
			Reason: reason + "; " + why}, nil
	}
	return Choice{}, fmt.Errorf("LAB_PROVIDER=%q: want auto, local or qemu", o.Provider)
}

func auto(ctx context.Context, o Options) (string, string) {
	if s, err := state.Open(o.Root, o.Name, ""); err == nil && s.Exists() {
		p := s.Lab().Provider
		return p, fmt.Sprintf("lab %s already exists on the %s provider", o.Name, p)
	}
	if o.ProbeKVM == nil {
		return local.ProviderName, "local provider: no KVM probe available"
	}
	ok, why := o.ProbeKVM(ctx)
	if ok {
		return "qemu", "qemu provider: " + why
	}
	return local.ProviderName, "local provider (no KVM guest can run here: " + why + ")"
}

// nodeImage picks the QEMU node image: LAB_NODE_IMAGE when set; else real Talos where a guest
// runs under KVM (a lab already up keeps its image), the twin elsewhere.
func nodeImage(ctx context.Context, o Options) (string, string) {
	if o.NodeImage != "" {
		return o.NodeImage, "node image " + o.NodeImage + " (LAB_NODE_IMAGE)"
	}
	if s, err := state.Open(o.Root, o.Name, ""); err == nil && s.Exists() && s.Lab().Provider == qemu.ProviderName {
		return "", "node image of the existing lab"
	}
	if o.ProbeKVM != nil {
		if ok, _ := o.ProbeKVM(ctx); ok {
			return qemu.NodeImageTalos, "node image talos (KVM works; LAB_NODE_IMAGE=twin for the Talos twin)"
		}
	}
	return qemu.NodeImageTwin, "node image twin (no Talos image can run without KVM here; LAB_NODE_IMAGE=talos to try anyway)"
}
