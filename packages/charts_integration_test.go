//go:build integration

package packages

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/packages/internal/charttest"
)

// crdDirs hold the CRDs every chart may rely on without shipping them: the cozystack API and
// Flux, as the operator installs them. They are read from disk because packages/ imports
// nothing from the rest of the repository.
var crdDirs = []string{"../operator/crds", "../operator/flux/crds"}

// TestChartsDryRunOnAPIServer renders every chart with its defaults and each values-*.yaml
// overlay and server-side dry-run creates every object on a real kube-apiserver, so schema
// errors in CRs, bad field names and wrong scopes fail here instead of in a HelmRelease. CRDs
// (the operator's, Flux's and those charts ship in crds/) are installed first; Namespaces and
// CRDs a chart renders are created for real so the objects that need them can be checked.
func TestChartsDryRunOnAPIServer(t *testing.T) {
	charts := findCharts(t)
	ctx := context.Background()
	cfg := cptest.Config(t)
	cfg.QPS, cfg.Burst = 500, 1000 // client-go's default of 5/s makes the walk crawl
	c, err := client.New(cfg, client.Options{})
	require.NoError(t, err)

	var crds []*unstructured.Unstructured
	for _, dir := range crdDirs {
		crds = append(crds, parseDir(t, dir)...)
	}
	for _, ch := range charts {
		loaded, err := charttest.Load(ch.Dir)
		require.NoError(t, err)
		for _, f := range loaded.CRDObjects() {
			objs, err := charttest.Parse(f.File.Data)
			require.NoError(t, err, "%s: %s", ch.Dir, f.Filename)
			crds = append(crds, objs...)
		}
	}
	createAll(ctx, t, c, crds)
	waitEstablished(ctx, t, c, crds)

	t.Run("the check refuses a bad object", func(t *testing.T) {
		bad, err := charttest.Parse([]byte("apiVersion: cozystack.io/v1alpha1\nkind: Package\nmetadata: {name: cozystack.bad}\nspec: {varient: x}\n"))
		require.NoError(t, err)
		assert.Error(t, dryRun(ctx, t, c, bad[0], "default"), "a misspelt field must fail the dry-run")
	})

	for _, rc := range renderCases(charts) {
		t.Run(rc.name(), func(t *testing.T) {
			objs, err := charttest.Render(rc.chart.Dir, rc.options())
			require.NoError(t, err)
			ensureNamespace(ctx, t, c, rc.chart.Namespace())
			var rest, created []*unstructured.Unstructured
			for _, o := range objs {
				switch o.GetKind() {
				case "Namespace", "CustomResourceDefinition":
					created = append(created, o)
				default:
					rest = append(rest, o)
				}
			}
			createAll(ctx, t, c, created)
			waitEstablished(ctx, t, c, created)
			for _, o := range rest {
				assert.NoError(t, dryRun(ctx, t, c, o, rc.chart.Namespace()), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
			}
		})
	}
}

// dryRun creates o with dryRun=All and strict field validation (an unknown or duplicate field
// is an error, not a warning), placing a namespaced object without a namespace in the
// release namespace as Helm does, and creating its namespace first when missing.
func dryRun(ctx context.Context, t *testing.T, c client.Client, o *unstructured.Unstructured, releaseNS string) error {
	gvk := o.GroupVersionKind()
	m, err := c.RESTMapper().RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return fmt.Errorf("map %s: %w", gvk, err)
	}
	if m.Scope.Name() == meta.RESTScopeNameNamespace {
		if o.GetNamespace() == "" {
			o.SetNamespace(releaseNS)
		}
		ensureNamespace(ctx, t, c, o.GetNamespace())
	} else if o.GetNamespace() != "" {
		return fmt.Errorf("cluster-scoped %s sets metadata.namespace %q", gvk.Kind, o.GetNamespace())
	}
	return c.Create(ctx, o, client.DryRunAll, client.FieldValidation("Strict"))
}

// createAll creates objs for real; an object that already exists (another chart's copy of the
// same CRD, a namespace) is left as it is.
func createAll(ctx context.Context, t *testing.T, c client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if err := c.Create(ctx, o.DeepCopy()); err != nil && !apierrors.IsAlreadyExists(err) {
			require.NoError(t, err, "create %s %s", o.GetKind(), o.GetName())
		}
	}
}

func ensureNamespace(ctx context.Context, t *testing.T, c client.Client, name string) {
	t.Helper()
	ns := &unstructured.Unstructured{}
	ns.SetAPIVersion("v1")
	ns.SetKind("Namespace")
	ns.SetName(name)
	createAll(ctx, t, c, []*unstructured.Unstructured{ns})
}

// waitEstablished waits, bounded to seconds, until every CRD among objs is Established.
func waitEstablished(ctx context.Context, t *testing.T, c client.Client, objs []*unstructured.Unstructured) {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() != "CustomResourceDefinition" {
			continue
		}
		require.Eventually(t, func() bool {
			crd := &unstructured.Unstructured{}
			crd.SetGroupVersionKind(o.GroupVersionKind())
			if err := c.Get(ctx, client.ObjectKey{Name: o.GetName()}, crd); err != nil {
				return false
			}
			conds, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
			for _, cond := range conds {
				m, _ := cond.(map[string]any)
				if m["type"] == "Established" && m["status"] == "True" {
					return true
				}
			}
			return false
		}, 30*time.Second, 50*time.Millisecond, "CRD %s Established", o.GetName())
	}
}

func parseDir(t *testing.T, dir string) []*unstructured.Unstructured {
	t.Helper()
	names, err := fs.Glob(os.DirFS(dir), "*.yaml")
	require.NoError(t, err)
	require.NotEmpty(t, names, "no CRDs in %s", dir)
	var out []*unstructured.Unstructured
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(dir, n))
		require.NoError(t, err)
		objs, err := charttest.Parse(data)
		require.NoError(t, err, n)
		out = append(out, objs...)
	}
	return out
}
