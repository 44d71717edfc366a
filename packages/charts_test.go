package packages

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/packages/internal/charttest"
)

// requiredFiles must exist in every chart: identity, defaults, their schema (Helm enforces
// it) and a README for people.
var requiredFiles = []string{"Chart.yaml", "values.yaml", "values.schema.json", "README.md", "Makefile"}

// findCharts returns every chart under this folder; a tree without charts is a broken tree.
func findCharts(t *testing.T) []charttest.Chart {
	t.Helper()
	charts, err := charttest.Find(".")
	require.NoError(t, err)
	require.NotEmpty(t, charts, "no Chart.yaml found under packages/")
	return charts
}

// renderCase is one render of a chart: its defaults, or its defaults plus one overlay.
type renderCase struct {
	chart   charttest.Chart
	overlay string // "" for values.yaml alone
}

func (r renderCase) name() string {
	if r.overlay == "" {
		return r.chart.Dir
	}
	return r.chart.Dir + "/" + r.overlay
}

// offlineValues is a chart's own answer to rendering with nothing in the cluster (Helm's
// lookup finds nothing here): values layered under every overlay by this walk, for a chart that
// otherwise refuses to render on purpose (core/platform without its source).
const offlineValues = "ci/offline-values.yaml"

func (r renderCase) options() charttest.Options {
	o := charttest.Options{ReleaseName: r.chart.Name(), Namespace: r.chart.Namespace()}
	if _, err := os.Stat(filepath.Join(r.chart.Dir, offlineValues)); err == nil {
		o.ValuesFiles = append(o.ValuesFiles, offlineValues)
	}
	if r.overlay != "" {
		o.ValuesFiles = append(o.ValuesFiles, r.overlay)
	}
	return o
}

func renderCases(charts []charttest.Chart) []renderCase {
	var out []renderCase
	for _, c := range charts {
		out = append(out, renderCase{chart: c})
		for _, o := range c.Overlays {
			out = append(out, renderCase{chart: c, overlay: o})
		}
	}
	return out
}

// TestChartsHaveRequiredFiles lists every chart missing one of requiredFiles, or whose
// Chart.yaml lacks apiVersion v2, a name or a version.
func TestChartsHaveRequiredFiles(t *testing.T) {
	var offenders []string
	for _, c := range findCharts(t) {
		for _, f := range requiredFiles {
			if _, err := os.Stat(filepath.Join(c.Dir, f)); err != nil {
				offenders = append(offenders, c.Dir+": no "+f)
			}
		}
		var meta struct{ APIVersion, Name, Version string }
		data, err := os.ReadFile(filepath.Join(c.Dir, "Chart.yaml"))
		require.NoError(t, err)
		if err := yaml.Unmarshal(data, &meta); err != nil {
			offenders = append(offenders, c.Dir+": Chart.yaml: "+err.Error())
			continue
		}
		if meta.APIVersion != "v2" || meta.Name == "" || meta.Version == "" {
			offenders = append(offenders, c.Dir+": Chart.yaml needs apiVersion v2, name and version")
		}
	}
	assert.Empty(t, offenders, "charts missing required files:\n%s", strings.Join(offenders, "\n"))
}

// TestChartsSitInACategory keeps the tree's layout: packages/<category>/<chart>.
func TestChartsSitInACategory(t *testing.T) {
	for _, c := range findCharts(t) {
		assert.Contains(t, []string{"core", "system", "apps", "extra"}, c.Category(), c.Dir)
		assert.Equal(t, 2, strings.Count(c.Dir, "/")+1, "%s: charts live at <category>/<name>", c.Dir)
	}
}

// TestChartsRender renders every chart with its defaults and with each values-*.yaml overlay;
// every document must be an object with a kind and a name. Schemas are enforced here too.
func TestChartsRender(t *testing.T) {
	for _, rc := range renderCases(findCharts(t)) {
		t.Run(rc.name(), func(t *testing.T) {
			objs, err := charttest.Render(rc.chart.Dir, rc.options())
			require.NoError(t, err)
			for _, o := range objs {
				assert.True(t, o.GetName() != "" || o.GetGenerateName() != "", "%s has no name", o.GetKind())
			}
		})
	}
}

// TestChartsAcceptInjectedClusterValues: the operator gives every HelmRelease the
// cozystack-values Secret (top-level _cluster), so every chart it installs must accept it —
// a schema with additionalProperties false and no _cluster fails only in a real install.
func TestChartsAcceptInjectedClusterValues(t *testing.T) {
	injected := map[string]any{"_cluster": map[string]any{"root-host": "example.org", "bundle-name": "isp-full"}}
	for _, c := range findCharts(t) {
		if c.Dir == filepath.Join("core", "installer") {
			continue // installed by hand (Helm), never through a HelmRelease
		}
		t.Run(c.Dir, func(t *testing.T) {
			o := renderCase{chart: c}.options()
			o.Values = injected
			_, err := charttest.Render(c.Dir, o)
			require.NoError(t, err)
		})
	}
}

// TestEmbedKeepsEveryChartFile checks that FS holds each chart file for file, underscore and
// dot files included: the //go:embed line must name every category folder with all:.
func TestEmbedKeepsEveryChartFile(t *testing.T) {
	for _, c := range findCharts(t) {
		var missing []string
		err := filepath.WalkDir(c.Dir, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			_, err = fs.Stat(FS, filepath.ToSlash(p))
			if errors.Is(err, fs.ErrNotExist) {
				missing = append(missing, p)
				return nil
			}
			return err
		})
		require.NoError(t, err)
		assert.Empty(t, missing, "%s: files not embedded; embed.go's //go:embed line needs all:%s", c.Dir, c.Category())
	}
}

// TestChartsLeaveTestsOut checks that Go tests and their testdata next to a chart stay out of
// the packaged chart (its .helmignore lists *.go and testdata/).
func TestChartsLeaveTestsOut(t *testing.T) {
	for _, c := range findCharts(t) {
		loaded, err := charttest.Load(c.Dir)
		require.NoError(t, err)
		for _, f := range loaded.Raw {
			if strings.HasSuffix(f.Name, ".go") || strings.HasPrefix(f.Name, "testdata/") {
				t.Errorf("%s: %s is packaged; add *.go and testdata/ to %s/.helmignore", c.Dir, f.Name, c.Dir)
			}
		}
	}
}
