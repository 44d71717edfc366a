package charttest

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// Chart is one chart of the tree: its directory relative to the tree's root, in slash form
// ("core/installer"), and the values overlays found next to its values.yaml.
type Chart struct {
	Dir string
	// Overlays are the values-*.yaml file names, sorted; each is one platform variant rendered
	// on top of values.yaml, as the operator's PackageSource variants list them.
	Overlays []string
}

// Category is the first element of Dir: core, system, apps or extra.
func (c Chart) Category() string { return strings.SplitN(c.Dir, "/", 2)[0] }

// Name is the last element of Dir.
func (c Chart) Name() string { return path.Base(c.Dir) }

// Namespace is the release namespace the chart is rendered into: cozy-system for core charts,
// cozy-<name> for system charts (as the platform installs them) and a tenant namespace for apps
// and extra, which users install into their tenants.
func (c Chart) Namespace() string {
	switch c.Category() {
	case "core":
		return "cozy-system"
	case "system":
		return "cozy-" + c.Name()
	default:
		return "tenant-test"
	}
}

// Find walks root and returns every chart below it: a directory holding Chart.yaml. A chart's
// own subdirectories (vendored subcharts under charts/, templates, testdata) are not searched,
// and neither are hidden folders, testdata or internal (Go code).
func Find(root string) ([]Chart, error) {
	var charts []Chart
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(root, p)
		if err != nil {
			return err
		}
		name := d.Name()
		if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "internal") {
			return filepath.SkipDir
		}
		if _, err := os.Stat(filepath.Join(p, "Chart.yaml")); err != nil {
			return nil
		}
		overlays, err := filepath.Glob(filepath.Join(p, "values-*.yaml"))
		if err != nil {
			return err
		}
		c := Chart{Dir: filepath.ToSlash(rel)}
		for _, o := range overlays {
			c.Overlays = append(c.Overlays, filepath.Base(o))
		}
		sort.Strings(c.Overlays)
		charts = append(charts, c)
		return filepath.SkipDir
	})
	if err != nil {
		return nil, fmt.Errorf("find charts under %s: %w", root, err)
	}
	return charts, nil
}
