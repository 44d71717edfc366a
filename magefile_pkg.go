//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/magefile/mage/mg"
	"golang.org/x/term"

	"github.com/cozylab/cozylab/cli"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/packageloop"
	"github.com/cozylab/cozylab/lab/provider"
)

// Pkg is the per-package dev loop against the HelmRelease NAME in NAMESPACE, for the chart in
// COZYLAB_CHART_DIR (default: the working directory). Run it from a chart directory as
// `make show|diff|apply|suspend|resume|delete|image` (packages/package.mk); the cluster is
// $KUBECONFIG or ~/.kube/config.
type Pkg mg.Namespace

// pkgOptions reads the chart directory and the HelmRelease name from the environment.
func pkgOptions() packageloop.Options {
	dir := os.Getenv("COZYLAB_CHART_DIR")
	if dir == "" {
		dir, _ = os.Getwd() // an empty dir is reported by the library as "no chart directory"
	}
	return packageloop.Options{ChartDir: dir, Name: os.Getenv("NAME"), Namespace: os.Getenv("NAMESPACE")}
}

// Show prints the chart rendered as helm-controller would install it for the HelmRelease.
func (Pkg) Show(ctx context.Context) error {
	out, err := packageloop.Show(ctx, pkgOptions())
	if err != nil {
		return err
	}
	fmt.Print(out)
	return nil
}

// Diff prints what apply would change in the live objects; it exits 1 when something would change.
func (Pkg) Diff(ctx context.Context) error {
	res, err := packageloop.Diff(ctx, pkgOptions())
	if err != nil {
		return err
	}
	color := term.IsTerminal(int(os.Stdout.Fd())) && os.Getenv("CI") == "" && os.Getenv("NO_COLOR") == ""
	fmt.Print(res.Format(color))
	if res.Changed() {
		return mg.Fatal(1, "diff: the release would change")
	}
	return nil
}

// Apply suspends the HelmRelease and installs or upgrades the release from the local chart.
func (Pkg) Apply(ctx context.Context) error {
	return cli.WithTerminal(func(term *progress.Terminal) error {
		rel, err := packageloop.Apply(ctx, pkgOptions(), term)
		if err == nil {
			fmt.Printf("%s/%s revision %d %s\n", rel.Namespace, rel.Name, rel.Version, rel.Info.Status)
		}
		return err
	})
}

// Suspend stops Flux from reconciling the HelmRelease.
func (Pkg) Suspend(ctx context.Context) error {
	return packageloop.Suspend(ctx, pkgOptions())
}

// Resume hands the HelmRelease back to Flux and requests a reconcile.
func (Pkg) Resume(ctx context.Context) error {
	return packageloop.Resume(ctx, pkgOptions())
}

// Delete suspends the HelmRelease and uninstalls its release.
func (Pkg) Delete(ctx context.Context) error {
	return cli.WithTerminal(func(term *progress.Terminal) error {
		return packageloop.Delete(ctx, pkgOptions(), term)
	})
}

// Image builds the chart's images/<name>/ Go mains, pushes them to REGISTRY (host:port; default: the current lab's registry) and writes their tag and digest into values.yaml.
func (Pkg) Image(ctx context.Context) error {
	reg, err := imageRegistry(ctx)
	if err != nil {
		return err
	}
	return cli.WithTerminal(func(term *progress.Terminal) error {
		res, err := packageloop.Image(ctx, packageloop.ImageOptions{ChartDir: pkgOptions().ChartDir, Registry: reg}, term)
		if err != nil {
			return err
		}
		for _, img := range res.Images {
			verb := "pushed"
			if !img.Pushed {
				verb = "already there"
			}
			fmt.Printf("%s %s@%s (%s)\n", verb, img.Ref, img.Digest, img.Name)
		}
		verb := "wrote"
		if !res.ValuesChanged {
			verb = "unchanged"
		}
		fmt.Printf("%s %s:\n", verb, res.ValuesFile)
		for _, v := range res.Values {
			fmt.Printf("  %s: %s\n", v.Key, v.Value)
		}
		return nil
	})
}

// imageRegistry is $REGISTRY, else the registry of the lab that is up.
func imageRegistry(ctx context.Context) (string, error) {
	if reg := os.Getenv("REGISTRY"); reg != "" {
		return reg, nil
	}
	p, err := cli.ExistingLab()
	if err != nil {
		return "", err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return "", err
	}
	if st.Phase != "up" {
		return "", fmt.Errorf("lab %s is %s, so there is no registry to push to: run `go run mage.go lab:up`, or set REGISTRY to a registry's host:port", st.Name, st.Phase)
	}
	lab, ok := p.(provider.Platform)
	if !ok {
		return "", fmt.Errorf("the %s provider has no registry: set REGISTRY to a registry's host:port", p.Name())
	}
	return lab.Registry()
}
