package packages

import (
	"fmt"
	"path/filepath"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/cozylab/cozylab/packages/internal/charttest"
)

// platformDir is the platform chart; platformNamespace and platformRelease are where the
// operator installs it (HelmRelease cozy-system/cozystack-platform).
const (
	platformDir       = "core/platform"
	platformNamespace = "cozy-system"
	platformRelease   = "cozystack-platform"
)

// platformVariant is one variant of the platform PackageSource: values.yaml plus an overlay.
type platformVariant struct {
	name    string
	overlay string // "" for values.yaml alone
}

// platformVariants mirror the operator's platform PackageSource (operator/internal/platform).
var platformVariants = []platformVariant{
	{name: "default"},
	{name: "isp-full", overlay: "values-isp-full.yaml"},
	{name: "isp-hosted", overlay: "values-isp-hosted.yaml"},
	{name: "isp-full-generic", overlay: "values-isp-full-generic.yaml"},
}

// offline lets the platform render without its source (no API server to look it up on).
var offline = map[string]any{"sourceRef": map[string]any{"allowMissing": true}}

// renderWithLookup renders the chart in dir as the Helm SDK does on install (schema enforced,
// NOTES.txt left out), with values.yaml, the overlays in order, then set. With cfg, `lookup`
// queries that API server; without, it finds nothing, as in `helm template`. The manifest is
// ordered by template path, so it is stable enough for golden files.
func renderWithLookup(dir string, overlays []string, set map[string]any, cfg *rest.Config) (string, error) {
	chrt, err := loader.Load(dir)
	if err != nil {
		return "", fmt.Errorf("load chart %s: %w", dir, err)
	}
	vals := map[string]any{}
	for _, f := range overlays {
		v, err := chartutil.ReadValuesFile(filepath.Join(dir, f))
		if err != nil {
			return "", fmt.Errorf("read values %s: %w", f, err)
		}
		vals = chartutil.MergeTables(v, vals)
	}
	vals = chartutil.MergeTables(deepCopy(set), vals)
	kv, err := chartutil.ParseKubeVersion(charttest.KubeVersion)
	if err != nil {
		return "", fmt.Errorf("parse kube version: %w", err)
	}
	caps := chartutil.DefaultCapabilities.Copy()
	caps.KubeVersion = *kv
	opts := chartutil.ReleaseOptions{Name: platformRelease, Namespace: platformNamespace, IsInstall: true, Revision: 1}
	if !strings.HasPrefix(dir, "core/") {
		opts = chartutil.ReleaseOptions{Name: filepath.Base(dir), Namespace: "tenant-test", IsInstall: true, Revision: 1}
	}
	rv, err := chartutil.ToRenderValues(chrt, vals, opts, caps)
	if err != nil {
		return "", fmt.Errorf("render chart %s: %w", dir, err)
	}
	var out map[string]string
	if cfg != nil {
		out, err = engine.New(cfg).Render(chrt, rv)
	} else {
		out, err = engine.Render(chrt, rv)
	}
	if err != nil {
		return "", fmt.Errorf("render chart %s: %w", dir, err)
	}
	names := make([]string, 0, len(out))
	for name, body := range out {
		if strings.HasSuffix(name, "NOTES.txt") || strings.TrimSpace(body) == "" {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, name := range names {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", name, strings.TrimSpace(out[name]))
	}
	return b.String(), nil
}

// renderObjects is renderWithLookup split into objects.
func renderObjects(dir string, overlays []string, set map[string]any, cfg *rest.Config) ([]*unstructured.Unstructured, error) {
	m, err := renderWithLookup(dir, overlays, set, cfg)
	if err != nil {
		return nil, err
	}
	return charttest.Parse([]byte(m))
}

// renderPlatform renders the platform chart in variant v.
func renderPlatform(v platformVariant, set map[string]any, cfg *rest.Config) ([]*unstructured.Unstructured, error) {
	var overlays []string
	if v.overlay != "" {
		overlays = []string{v.overlay}
	}
	return renderObjects(platformDir, overlays, set, cfg)
}

// objectsOfKind returns the objects of kind, by name.
func objectsOfKind(objs []*unstructured.Unstructured, kind string) map[string]*unstructured.Unstructured {
	out := map[string]*unstructured.Unstructured{}
	for _, o := range objs {
		if o.GetKind() == kind {
			out[o.GetName()] = o
		}
	}
	return out
}

// deepCopy copies a values tree so merging never writes into a shared literal.
func deepCopy(in map[string]any) map[string]any {
	out := make(map[string]any, len(in))
	for k, v := range in {
		if m, ok := v.(map[string]any); ok {
			out[k] = deepCopy(m)
			continue
		}
		out[k] = v
	}
	return out
}

// merged returns the union of value trees, later ones winning.
func merged(trees ...map[string]any) map[string]any {
	out := map[string]any{}
	for _, t := range trees {
		out = chartutil.MergeTables(deepCopy(t), out)
	}
	return out
}
