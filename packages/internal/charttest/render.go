package charttest

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// KubeVersion is the Kubernetes version charts are rendered for: the API server the tests run.
const KubeVersion = "v1.35.4"

// Options says how to render a chart.
type Options struct {
	// ReleaseName defaults to the chart directory's name.
	ReleaseName string
	// Namespace is the release namespace.
	Namespace string
	// ValuesFiles are merged in order on top of the chart's values.yaml, later files winning;
	// relative names are taken from the chart directory.
	ValuesFiles []string
	// Values are merged last, like --set.
	Values map[string]any
}

// Load loads the chart in dir, honouring its .helmignore.
func Load(dir string) (*chart.Chart, error) {
	c, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	return c, nil
}

// Manifest renders the chart in dir as `helm template` does (hooks included, CRDs of crds/
// left out, `lookup` returning nothing) and returns the manifest. A values.schema.json is
// enforced: values that break it fail here with Helm's message naming the field.
func Manifest(dir string, opts Options) (string, error) {
	c, err := Load(dir)
	if err != nil {
		return "", err
	}
	vals := map[string]any{}
	for _, f := range opts.ValuesFiles {
		if !filepath.IsAbs(f) {
			f = filepath.Join(dir, f)
		}
		v, err := chartutil.ReadValuesFile(f)
		if err != nil {
			return "", fmt.Errorf("read values %s: %w", f, err)
		}
		vals = merge(vals, v)
	}
	vals = merge(vals, opts.Values)

	kv, err := chartutil.ParseKubeVersion(KubeVersion)
	if err != nil {
		return "", fmt.Errorf("parse kube version: %w", err)
	}
	install := action.NewInstall(&action.Configuration{Log: func(string, ...any) {}})
	install.DryRun = true
	install.ClientOnly = true
	install.Replace = true
	install.DisableOpenAPIValidation = true
	install.KubeVersion = kv
	install.ReleaseName = opts.ReleaseName
	if install.ReleaseName == "" {
		install.ReleaseName = filepath.Base(dir)
	}
	install.Namespace = opts.Namespace
	rel, err := install.Run(c, vals)
	if err != nil {
		return "", fmt.Errorf("render chart %s: %w", dir, err)
	}
	var b strings.Builder
	b.WriteString(rel.Manifest)
	for _, h := range rel.Hooks {
		fmt.Fprintf(&b, "\n---\n# Source: %s\n%s\n", h.Path, h.Manifest)
	}
	return b.String(), nil
}

// Render is Manifest split into objects.
func Render(dir string, opts Options) ([]*unstructured.Unstructured, error) {
	m, err := Manifest(dir, opts)
	if err != nil {
		return nil, err
	}
	objs, err := Parse([]byte(m))
	if err != nil {
		return nil, fmt.Errorf("parse rendered chart %s: %w", dir, err)
	}
	return objs, nil
}

// Parse splits a multi-document YAML stream into objects, skipping empty documents. A
// document without apiVersion or kind is an error.
func Parse(data []byte) ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for i := 0; ; i++ {
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return objs, nil
			}
			return nil, fmt.Errorf("decode document %d: %w", i, err)
		}
		if len(m) == 0 {
			continue
		}
		o := &unstructured.Unstructured{Object: m}
		if o.GetAPIVersion() == "" || o.GetKind() == "" {
			return nil, fmt.Errorf("document %d has no apiVersion or kind", i)
		}
		objs = append(objs, o)
	}
}

// merge merges src into dst recursively, src winning, as Helm merges -f files.
func merge(dst, src map[string]any) map[string]any {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				dst[k] = merge(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
	return dst
}
