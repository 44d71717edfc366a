package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/klog/v2"

	"github.com/cozylab/cozylab/e2e"
	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/realnode"
)

// E2E brings the whole platform up on a lab and checks it (E2E_VARIANT picks the platform variant, E2E_PACKAGES another packages tree, E2E_INSTALLER=ours|tree its installer chart, E2E_VALUES a file of platform values, E2E_KEEP_GOING=1 every blocker listed; the lab stays up: lab:down removes it).
func E2E(ctx context.Context) error {
	start := time.Now()
	term, p, lab, err := startLane(ctx)
	if err != nil {
		return err
	}
	defer term.Close()
	keepGoing := e2e.KeepGoingByDefault(p.Name(), os.Getenv("E2E_PACKAGES"))
	if v := os.Getenv("E2E_KEEP_GOING"); v != "" {
		if keepGoing, err = strconv.ParseBool(v); err != nil {
			return fmt.Errorf("E2E_KEEP_GOING=%q: want 1 (list every blocker) or 0 (stop at the first)", v)
		}
	}
	if keepGoing {
		fmt.Fprintln(os.Stderr, "Keep-going: the wait lists every release that cannot become Ready, by class (E2E_KEEP_GOING=0 stops at the first).")
	}
	reports := filepath.Join("_out", "e2e")
	res, err := e2e.Run(ctx, e2e.Options{
		RepoRoot: ".", Lab: lab, Variant: os.Getenv("E2E_VARIANT"), ReportDir: reports, Progress: term,
		Packages: os.Getenv("E2E_PACKAGES"), Installer: os.Getenv("E2E_INSTALLER"), ValuesFile: os.Getenv("E2E_VALUES"),
		KeepGoing: keepGoing,
	})
	term.Summary(start)
	e2e.MeasureFigures(term.Records(), res, filepath.Dir(p.Kubeconfig())).Print(os.Stderr, p.Name())
	if len(res.RealNodePods) > 0 {
		fmt.Fprintf(os.Stderr, "On the real node: %s\n", strings.Join(res.RealNodePods, ", "))
	}
	fmt.Fprintf(os.Stderr, "JUnit report: %s\n", filepath.Join(reports, "junit.xml"))
	if err != nil {
		if res.Archive != "" {
			fmt.Fprintf(os.Stderr, "Diagnostics: %s (and %s)\n", res.Diagnostics, res.Archive)
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "Every HelmRelease is Ready. The lab stays up: export KUBECONFIG=%s; `go run mage.go lab:down` removes it.\n", p.Kubeconfig())
	return nil
}

// printLabMode says in one line what runs where on a local lab: with its real node (containerd
// and kubelet versions) or kwok only.
func printLabMode(p provider.Provider) {
	if lp, ok := p.(*local.Provider); ok {
		if lp.Request.RealNode() {
			v, err := realnode.ContainerdVersion()
			if err != nil {
				v = "(containerd not found: " + err.Error() + ")"
			}
			fmt.Fprintf(os.Stderr, "Local provider with a real node: %s runs containerd %s and kubelet %s; the operator, Flux and CoreDNS run there as pods, "+
				"every pod whose images the lab has does too, the rest sit on kwok's simulated nodes; the control plane runs as processes.\n",
				realnode.NodeName, v, bincache.KubernetesVersion)
		} else {
			fmt.Fprintln(os.Stderr, "Local provider, kwok only (LAB_LOCAL_NODES=kwok): real control plane and Flux as processes, every node simulated by kwok; "+
				"the operator runs as a local process from its image, its Deployment sits on a kwok node.")
		}
	}
}

// startLane is what every e2e lane begins with: client-go's klog silenced (it reports
// transient watch errors, a CRD not installed yet, which the waits show in their status lines),
// the terminal, the lab the environment chooses (it must run the platform) and the line saying
// how it runs.
func startLane(ctx context.Context) (*progress.Terminal, provider.Provider, provider.Platform, error) {
	klog.SetLogger(logr.Discard())
	p, err := DecideLab(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	lab, ok := p.(provider.Platform)
	if !ok {
		return nil, nil, nil, fmt.Errorf("the %s provider cannot run the platform", p.Name())
	}
	printLabMode(p)
	return progress.NewTerminal(os.Stderr), p, lab, nil
}
