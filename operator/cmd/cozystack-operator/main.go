// Command cozystack-operator installs the platform's CRDs and Flux, creates the platform source
// and turns PackageSources and Packages into Flux ArtifactGenerators and HelmReleases.
// `cozystack-operator migrate` runs the platform migrations instead.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cozylab/cozylab/operator/internal/app"
	"github.com/cozylab/cozylab/operator/internal/config"
)

func main() { os.Exit(run(ctrl.SetupSignalHandler(), os.Args[1:], os.Stderr)) }

func run(ctx context.Context, args []string, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "migrate" {
		return exit(app.Migrate(ctx, args[1:], stderr), stderr)
	}
	cfg, err := config.Parse(args, stderr)
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(stderr, "cozystack-operator:", err)
		return 2 // a usage error: nothing was started
	}
	if err != nil {
		return 0
	}
	log := zap.New(zap.UseFlagOptions(&cfg.Zap))
	ctrl.SetLogger(log)
	restCfg, err := app.RESTConfig(cfg.Kubeconfig)
	if err != nil {
		return exit(err, stderr)
	}
	restCfg.QPS, restCfg.Burst = float32(cfg.QPS), cfg.Burst
	return exit(app.Run(ctx, cfg, restCfg, log), stderr)
}

// exit maps an error to an exit code: 0 for none or a help request, 1 otherwise.
func exit(err error, stderr io.Writer) int {
	if err == nil || errors.Is(err, flag.ErrHelp) {
		return 0
	}
	fmt.Fprintln(stderr, "cozystack-operator:", err)
	return 1
}
