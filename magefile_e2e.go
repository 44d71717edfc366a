//go:build mage

package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/cozylab/cozylab/e2e"
	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local"
)

// E2e brings the whole platform up on a lab and checks it (E2E_VARIANT picks the platform variant; the lab stays up: lab:down removes it).
func E2e(ctx context.Context) error {
	start := time.Now()
	// client-go reports transient watch errors (a CRD not installed yet) through klog; the
	// waits show them in their status lines instead.
	klog.SetLogger(logr.Discard())
	term := progress.NewTerminal(os.Stderr)
	defer term.Close()
	c, err := selectLab(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintln(os.Stderr, "Provider:", c.Reason)
	target, ok := c.Provider.(e2e.Target)
	if !ok {
		return fmt.Errorf("the %s provider cannot run the e2e pipeline yet", c.Provider.Name())
	}
	if check, ok := c.Provider.(interface{ CheckE2E() error }); ok {
		if err := check.CheckE2E(); err != nil {
			return err // before anything starts
		}
	}
	if c.Provider.Name() == local.ProviderName {
		fmt.Fprintln(os.Stderr, "Local provider: real control plane and Flux as processes, nodes simulated by kwok; "+
			"the operator runs as a local process from its image, its Deployment sits on a kwok node.")
	}
	res, err := e2e.Run(ctx, e2e.Options{
		RepoRoot: ".", Lab: target, Variant: os.Getenv("E2E_VARIANT"), ReportDir: filepath.Join("_out", "e2e"), Progress: term,
	})
	term.Summary(start)
	printFigures(term.Records(), res, c.Provider.Name())
	fmt.Fprintf(os.Stderr, "JUnit report: %s\n", filepath.Join("_out", "e2e", "junit.xml"))
	if err != nil {
		if res.Archive != "" {
			fmt.Fprintf(os.Stderr, "Diagnostics: %s (and %s)\n", res.Diagnostics, res.Archive)
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "Every HelmRelease is Ready. The lab stays up: export KUBECONFIG=%s; `go run mage.go lab:down` removes it.\n", target.Kubeconfig())
	return nil
}

// printFigures prints the run's headline numbers: build time, lab-up time, time to all-Ready
// and peak memory.
func printFigures(recs []progress.Record, res e2e.Result, providerName string) {
	var build, labBuild, labUp time.Duration
	built := 0
	for _, r := range recs {
		switch {
		case r.Title == "lab up":
			labUp = r.Duration
		case r.Outcome == progress.Succeeded && (isToolStep(r.Title) || strings.HasPrefix(r.Title, "Building")):
			build += r.Duration
			built++
			if r.Title != "Building the operator binary" {
				labBuild += r.Duration // the binaries cache and the lab daemon are built inside lab up
			}
		}
	}
	buildNote := fmt.Sprintf("%s (%d builds)", progress.Round(build), built)
	if built == 0 {
		buildNote = "0s (everything cached)"
	}
	fmt.Fprintf(os.Stderr, "Cold-build time:  %s\n", buildNote)
	labNote := providerName + " provider"
	if labBuild > 0 && labBuild < labUp {
		labNote += fmt.Sprintf(", %s of it not building", progress.Round(labUp-labBuild))
	}
	fmt.Fprintf(os.Stderr, "Lab-up time:      %s (%s)\n", progress.Round(labUp), labNote)
	if res.AllReady > 0 {
		fmt.Fprintf(os.Stderr, "All-Ready time:   %s (%d HelmReleases, from the platform Package)\n", progress.Round(res.AllReady), res.Releases)
	}
	cache, _ := bincache.DefaultRoot()
	stateRoot := os.Getenv("XDG_STATE_HOME")
	if stateRoot == "" {
		home, _ := os.UserHomeDir()
		stateRoot = filepath.Join(home, ".local", "state")
	}
	harness, lab := e2e.PeakMemory(cache, filepath.Join(stateRoot, "cozylab"))
	fmt.Fprintf(os.Stderr, "Peak memory:      lab processes %d MiB (sum of each one's peak), harness %d MiB\n", lab>>20, harness>>20)
}

func isToolStep(title string) bool {
	for _, t := range bincache.Tools {
		if title == t.Name+" "+t.Version {
			return true
		}
	}
	return false
}
