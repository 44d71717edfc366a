//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"text/tabwriter"

	"github.com/magefile/mage/mg"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/labs"
)

// Lab groups the lab targets. LAB_PROVIDER=auto|local|qemu picks where the lab runs (auto:
// qemu only when a guest really boots under KVM) and LAB_NAME names it (default "dev").
type Lab mg.Namespace

func selectLab(ctx context.Context) (labs.Choice, error) {
	return labs.Select(ctx, labs.FromEnv("."))
}

// Up brings a lab up and leaves it running: a Kubernetes API with Flux, the artifact registry and the operator runner.
func (Lab) Up(ctx context.Context) error {
	return withTerminal(func(term *progress.Terminal) error {
		c, err := selectLab(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintln(os.Stderr, "Provider:", c.Reason)
		if err := c.Provider.Up(ctx, term); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Lab is up. export KUBECONFIG=%s\n", c.Provider.Kubeconfig())
		return nil
	})
}

// Down removes the lab: every process or VM, its network and its state (the binaries and image caches stay).
func (Lab) Down(ctx context.Context) error {
	return withTerminal(func(term *progress.Terminal) error {
		c, err := selectLab(ctx)
		if err != nil {
			return err
		}
		return c.Provider.Down(ctx, term)
	})
}

// Status shows the lab's phase, nodes and components.
func (Lab) Status(ctx context.Context) error {
	c, err := selectLab(ctx)
	if err != nil {
		return err
	}
	st, err := c.Provider.Status(ctx)
	if err != nil {
		return err
	}
	fmt.Printf("lab %s (%s): %s\n", st.Name, st.Provider, st.Phase)
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	for _, n := range st.Nodes {
		fmt.Fprintf(w, "  node %s\t%s\t%s\n", n.Name, n.Role, n.Address)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	for _, comp := range st.Components {
		mark := "✗"
		if comp.Running {
			mark = "✓"
		}
		fmt.Fprintf(w, "  %s %s\t%s\n", mark, comp.Name, comp.Detail)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return nil
}

// Kubeconfig prints the lab's kubeconfig path; LAB_KUBECONFIG_MERGE=1 also merges it into ~/.kube/config (like kind).
func (Lab) Kubeconfig(ctx context.Context) error {
	c, err := selectLab(ctx)
	if err != nil {
		return err
	}
	path := c.Provider.Kubeconfig()
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("lab has no kubeconfig yet (%v): run `go run mage.go lab:up`", err)
	}
	fmt.Println(path)
	if os.Getenv("LAB_KUBECONFIG_MERGE") != "1" {
		return nil
	}
	st, err := c.Provider.Status(ctx)
	if err != nil {
		return err
	}
	target := clientcmd.NewDefaultClientConfigLoadingRules().GetDefaultFilename()
	name := "cozylab-" + st.Name
	if err := labs.MergeKubeconfig(path, target, name); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "Merged into %s as context %s (now current).\n", target, name)
	return nil
}
