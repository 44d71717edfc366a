package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cozylab/cozylab/e2e"
	"github.com/cozylab/cozylab/internal/progress"
)

// E2EUpgrade is the upgrade lane: it installs the platform of E2E_FROM (a git ref; default the
// last release, release.json), then upgrades the same lab to the working tree and checks that
// nothing was lost (E2E_VARIANT as for e2e; the lab stays up: lab:down removes it).
func E2EUpgrade(ctx context.Context) error {
	start := time.Now()
	term, p, lab, err := startLane(ctx)
	if err != nil {
		return err
	}
	defer term.Close()
	reports := filepath.Join("_out", "e2e-upgrade")
	res, err := e2e.Upgrade(ctx, e2e.UpgradeOptions{
		Options: e2e.Options{RepoRoot: ".", Lab: lab, Variant: os.Getenv("E2E_VARIANT"), ReportDir: reports, Progress: term},
		From:    os.Getenv("E2E_FROM"),
	})
	term.Summary(start)
	if res.From.Name != "" {
		fmt.Fprintf(os.Stderr, "Upgrade: %s → %s\n", res.From, res.To)
	}
	migrations := "none (both at platform version " + fmt.Sprint(res.To.MigrationTarget) + ")"
	if len(res.Migrations) > 0 {
		migrations = strings.Join(res.Migrations, "; ")
	}
	fmt.Fprintf(os.Stderr, "Migrations run:   %s\n", migrations)
	if res.InstallTime > 0 {
		fmt.Fprintf(os.Stderr, "Install time:     %s (lab up and %s until every HelmRelease Ready)\n", progress.Round(res.InstallTime), res.From.Name)
	}
	if res.UpgradeTime > 0 {
		fmt.Fprintf(os.Stderr, "Upgrade time:     %s (push, helm upgrade, until every HelmRelease Ready again)\n", progress.Round(res.UpgradeTime))
	}
	if len(res.Kept)+len(res.Removed)+len(res.Added) > 0 {
		fmt.Fprintf(os.Stderr, "HelmReleases:     %d kept (same UID, no value lost), %d removed %v, %d added %v\n",
			len(res.Kept), len(res.Removed), res.Removed, len(res.Added), res.Added)
	}
	fmt.Fprintf(os.Stderr, "JUnit reports: %s, %s\n", filepath.Join(reports, "from", "junit.xml"), filepath.Join(reports, "to", "junit.xml"))
	if err != nil {
		if res.Archive != "" {
			fmt.Fprintf(os.Stderr, "Diagnostics: %s (and %s)\n", res.Diagnostics, res.Archive)
		}
		return err
	}
	fmt.Fprintf(os.Stderr, "The upgrade kept everything. The lab stays up: export KUBECONFIG=%s; `go run mage.go lab:down` removes it.\n", p.Kubeconfig())
	return nil
}
