package cli

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"text/tabwriter"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/internal/kubeconfig"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/choose"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/state"
)

// The lab verbs. LAB_PROVIDER=auto|local|qemu picks where the lab runs (auto:
// qemu only when a guest really boots under KVM) and LAB_NAME names it (default "dev");
// LAB_NODE_IMAGE=twin|talos, LAB_NODE_MEMORY_MIB, LAB_NODE_CPUS and LAB_TALOS_VERSION,
// LAB_TALOS_SCHEMATIC, LAB_TALOS_IMAGE_SHA256 shape a QEMU lab; LAB_SIMULATED_WEBHOOKS=ignore
// lets a local lab ignore admission webhooks that only simulated pods serve; LAB_LOCAL_NODES=kwok
// runs a local lab without its real node (simulated nodes only).

// LabSettings reads the lab's environment: the only place it is read.
func LabSettings() (choose.Settings, error) {
	s := choose.Settings{
		Name: os.Getenv("LAB_NAME"), Provider: os.Getenv("LAB_PROVIDER"), RepoRoot: ".",
		NodeImage: os.Getenv("LAB_NODE_IMAGE"), SimulatedWebhooks: os.Getenv("LAB_SIMULATED_WEBHOOKS"),
		LocalNodes: os.Getenv("LAB_LOCAL_NODES"),
		Talos: state.TalosImage{Version: os.Getenv("LAB_TALOS_VERSION"), Schematic: os.Getenv("LAB_TALOS_SCHEMATIC"),
			SHA256: os.Getenv("LAB_TALOS_IMAGE_SHA256")},
	}
	for env, into := range map[string]*int{"LAB_NODE_MEMORY_MIB": &s.MemoryMiB, "LAB_NODE_CPUS": &s.CPUs} {
		if v := os.Getenv(env); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return s, fmt.Errorf("%s=%q: want a positive whole number", env, v)
			}
			*into = n
		}
	}
	return s, nil
}

// DecideLab decides the lab to bring up (probing KVM at most once) and says which provider.
func DecideLab(ctx context.Context) (provider.Provider, error) {
	s, err := LabSettings()
	if err != nil {
		return nil, err
	}
	lab, err := choose.Decide(ctx, s)
	if err != nil {
		return nil, err
	}
	fmt.Fprintln(os.Stderr, "Provider:", lab.Request.ProviderReason)
	if q := lab.Request.QEMU; q != nil {
		cpus := fmt.Sprintf("%d vCPUs", q.CPUs)
		if q.CPUs == 1 {
			cpus = "1 vCPU"
		}
		fmt.Fprintf(os.Stderr, "Nodes: %s, %d MiB and %s each (%s)\n", q.NodeImage, q.MemoryMiB, cpus, q.NodeImageReason)
	}
	return lab.Provider(), nil
}

// ExistingLab is the lab to take down, show or read; it never probes.
func ExistingLab() (provider.Provider, error) {
	s, err := LabSettings()
	if err != nil {
		return nil, err
	}
	lab, err := choose.Existing(s)
	if err != nil {
		return nil, err
	}
	return lab.Provider(), nil
}

// LabUp brings a lab up (or resumes one) and leaves it running: a Kubernetes API with Flux, the artifact registry and the operator runner.
func LabUp(ctx context.Context) error {
	return WithTerminal(func(term *progress.Terminal) error {
		p, err := DecideLab(ctx)
		if err != nil {
			return err
		}
		if err := p.Up(ctx, term); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Lab is up. export KUBECONFIG=%s\n", p.Kubeconfig())
		return nil
	})
}

// LabDown removes the lab: every process or VM, its network and its state (the binaries and image caches stay).
func LabDown(ctx context.Context) error {
	return WithTerminal(func(term *progress.Terminal) error {
		p, err := ExistingLab()
		if err != nil {
			return err
		}
		return p.Down(ctx, term)
	})
}

// LabStatus shows the lab's phase, nodes and components.
func LabStatus(ctx context.Context) error {
	p, err := ExistingLab()
	if err != nil {
		return err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("lab %s (%s): %s\n", st.Name, st.Provider, st.Phase)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "  node %s\t%s\t%s\n", n.Name, n.Role, n.Address)
	}
	for _, comp := range st.Components {
		mark := "✗"
		if comp.Running {
			mark = "✓"
		}
		fmt.Fprintf(w, "  %s %s\t%s\n", mark, comp.Name, comp.Detail)
	}
	return w.Flush()
}

// LabKubeconfig prints the lab's kubeconfig path; LAB_KUBECONFIG_MERGE=1 also merges it into ~/.kube/config (like kind).
func LabKubeconfig(ctx context.Context) error {
	p, err := ExistingLab()
	if err != nil {
		return err
	}
	path := p.Kubeconfig()
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("lab has no kubeconfig yet (%v): run `go run mage.go lab:up`", err)
	}
	fmt.Println(path)
	if os.Getenv("LAB_KUBECONFIG_MERGE") != "1" {
		return nil
	}
	st, err := p.Status(ctx)
	if err != nil {
		return err
	}
	target := clientcmd.NewDefaultClientConfigLoadingRules().GetDefaultFilename()
	name := "cozylab-" + st.Name
	if err := kubeconfig.Merge(path, target, name); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Merged into %s as context %s (now current).\n", target, name)
	return nil
}

// LabConsole follows a lab node's serial log (srv1, srv2, srv3; QEMU labs) like `tail -f`, until Ctrl-C.
func LabConsole(ctx context.Context, node string) error {
	p, err := ExistingLab()
	if err != nil {
		return err
	}
	c, ok := p.(provider.Console)
	if !ok {
		return fmt.Errorf("lab:console follows the serial log of a VM; this lab runs on the %s provider, which has none", p.Name())
	}
	return c.Console(ctx, node, os.Stdout)
}
