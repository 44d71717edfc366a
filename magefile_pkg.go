//go:build mage

package main

import (
	"context"
	"fmt"
	"os"

	"github.com/magefile/mage/mg"
	"golang.org/x/term"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/packageloop"
)

// Pkg is the per-package dev loop against the HelmRelease NAME in NAMESPACE, for the chart in
// COZYLAB_CHART_DIR (default: the working directory). Run it from a chart directory as
// `make show|diff|apply|suspend|resume|delete` (packages/package.mk); the cluster is
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
	return withTerminal(func(term *progress.Terminal) error {
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
	return withTerminal(func(term *progress.Terminal) error {
		return packageloop.Delete(ctx, pkgOptions(), term)
	})
}
