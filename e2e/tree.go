package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chartutil"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/lab/local"
)

// Installer charts Run can install.
const (
	// InstallerOurs is this repository's packages/core/installer.
	InstallerOurs = "ours"
	// InstallerTree is the pushed tree's own core/installer.
	InstallerTree = "tree"
)

// packagesDir is the tree the run pushes.
func (o Options) packagesDir() string {
	if o.Packages != "" {
		return o.Packages
	}
	return filepath.Join(o.RepoRoot, "packages")
}

// installerDir is the installer chart the run installs.
func (o Options) installerDir() string {
	if o.Installer == InstallerTree {
		return filepath.Join(o.packagesDir(), "core", "installer")
	}
	return filepath.Join(o.RepoRoot, "packages", "core", "installer")
}

// checkTree refuses, before anything starts, a tree without a platform chart, an unknown
// installer choice, a variant the tree's platform chart does not offer, and a values file that
// cannot be read.
func (o Options) checkTree() error {
	if o.Installer != "" && o.Installer != InstallerOurs && o.Installer != InstallerTree {
		return fmt.Errorf("E2E_INSTALLER=%q: want %s (this repository's installer chart) or %s (the tree's core/installer)",
			o.Installer, InstallerOurs, InstallerTree)
	}
	if _, err := os.Stat(filepath.Join(o.installerDir(), "Chart.yaml")); err != nil {
		return fmt.Errorf("installer chart %s: %w", o.installerDir(), err)
	}
	variants, err := PlatformVariants(o.packagesDir())
	if err != nil {
		return err
	}
	if !slices.Contains(variants, o.Variant) {
		return fmt.Errorf("unknown platform variant %q: %s offers %s (E2E_VARIANT)", o.Variant, o.packagesDir(), strings.Join(variants, ", "))
	}
	_, err = o.platformValues()
	return err
}

// PlatformVariants are the variants a tree's platform chart offers, as the operator's platform
// PackageSource lists them: "default" (values.yaml) and one per values-<variant>.yaml.
func PlatformVariants(packagesDir string) ([]string, error) {
	chart := filepath.Join(packagesDir, platformChart)
	if _, err := os.Stat(chart); err != nil {
		return nil, fmt.Errorf("read the platform chart of %s: %w (a packages tree has core/platform/Chart.yaml)", packagesDir, err)
	}
	files, err := filepath.Glob(filepath.Join(filepath.Dir(chart), "values-*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("list the platform variants of %s: %w", packagesDir, err)
	}
	variants := []string{"default"}
	for _, f := range files {
		variants = append(variants, strings.TrimSuffix(strings.TrimPrefix(filepath.Base(f), "values-"), ".yaml"))
	}
	return variants, nil
}

// platformValues are the values the run gives the platform component: the operator image for
// its migrations hook, under the values file's (which win).
func (o Options) platformValues() (map[string]any, error) {
	user := map[string]any{}
	if o.ValuesFile != "" {
		raw, err := os.ReadFile(o.ValuesFile)
		if err != nil {
			return nil, fmt.Errorf("read the platform values (E2E_VALUES): %w", err)
		}
		if err := yaml.Unmarshal(raw, &user); err != nil {
			return nil, fmt.Errorf("read the platform values %s (E2E_VALUES): %w", o.ValuesFile, err)
		}
	}
	return user, nil
}

// mergeValues puts user's values over base's, key by key in nested maps.
func mergeValues(user, base map[string]any) map[string]any {
	return chartutil.CoalesceTables(user, base)
}

// KeepGoingByDefault says whether a run keeps going past the first blocked release when the user
// did not choose (E2E_KEEP_GOING unset): on the local lane with a tree of the user's own, where
// some releases cannot become Ready by nature (webhooks and aggregated APIs served by simulated
// pods, images that cannot be had) and the whole list of blockers is what the user needs.
func KeepGoingByDefault(providerName, packages string) bool {
	return providerName == local.ProviderName && packages != ""
}
