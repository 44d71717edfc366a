package packages

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// platformSourceName is the PackageSource the operator creates for the platform itself; the
// catalogue may depend on it although it is not in sources/.
const platformSourceName = "cozystack.cozystack-platform"

// loadSources parses every sources/*.yaml of the platform strictly (an unknown field is an
// error, as the CRD's structural schema would prune it), by name.
func loadSources(t *testing.T) map[string]*v1alpha1.PackageSource {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(platformDir, "sources", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	out := map[string]*v1alpha1.PackageSource{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		ps := &v1alpha1.PackageSource{}
		require.NoError(t, yaml.UnmarshalStrict(data, ps), f)
		require.Equal(t, "PackageSource", ps.Kind, f)
		require.Equal(t, "cozystack."+strings.TrimSuffix(filepath.Base(f), ".yaml"), ps.Name, "%s: one file per source, named after it", f)
		out[ps.Name] = ps
	}
	return out
}

func sourceNames(t *testing.T) []string {
	return keys(loadSources(t))
}

// TestPackageSourcePathsExist checks what upstream only learns at install time, when the
// ArtifactGenerator stalls (source-watcher #368): every component and library path names a chart
// directory of this tree, every values file exists in its chart, and the sourceRef is the
// platform's cozystack-packages.
func TestPackageSourcePathsExist(t *testing.T) {
	for name, ps := range loadSources(t) {
		t.Run(name, func(t *testing.T) {
			require.NotNil(t, ps.Spec.SourceRef)
			assert.Equal(t, v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "cozystack-packages", Namespace: "cozy-system", Path: "/"}, *ps.Spec.SourceRef)
			require.NotEmpty(t, ps.Spec.Variants)
			for _, v := range ps.Spec.Variants {
				for _, l := range v.Libraries {
					assertChartDir(t, l.Path, "%s/%s library %s", name, v.Name, l.Path)
				}
				for _, c := range v.Components {
					assertChartDir(t, c.Path, "%s/%s component %s", name, v.Name, c.Name)
					for _, f := range c.ValuesFiles {
						assert.FileExists(t, filepath.Join(filepath.FromSlash(c.Path), f), "%s/%s component %s values file", name, v.Name, c.Name)
					}
				}
			}
		})
	}
}

func assertChartDir(t *testing.T, p string, msg string, args ...any) {
	t.Helper()
	clean := path.Clean(p)
	where := fmt.Sprintf(msg, args...)
	if p == "" || path.IsAbs(p) || strings.HasPrefix(clean, "..") {
		assert.Fail(t, where+": path must be relative to packages/", "path %q", p)
		return
	}
	assert.FileExists(t, filepath.Join(filepath.FromSlash(clean), "Chart.yaml"), "%s: no chart at packages/%s", where, clean)
}

// TestPackageSourceReferencesResolve: dependsOn names known PackageSources, install.dependsOn
// names installable siblings, libraries named by components exist, and variant and component
// names are unique.
func TestPackageSourceReferencesResolve(t *testing.T) {
	sources := loadSources(t)
	for name, ps := range sources {
		variants := map[string]bool{}
		for _, v := range ps.Spec.Variants {
			assert.False(t, variants[v.Name], "%s: variant %s twice", name, v.Name)
			variants[v.Name] = true
			for _, dep := range v.DependsOn {
				_, ok := sources[dep]
				assert.True(t, ok || dep == platformSourceName, "%s/%s depends on unknown package %s", name, v.Name, dep)
			}
			libs := map[string]bool{}
			for _, l := range v.Libraries {
				libs[l.Name] = true
				libs[path.Base(l.Path)] = true
			}
			installable := map[string]bool{}
			for _, c := range v.Components {
				assert.False(t, installable[c.Name], "%s/%s: component %s twice", name, v.Name, c.Name)
				installable[c.Name] = c.Install != nil
				for _, l := range c.Libraries {
					assert.True(t, libs[l], "%s/%s component %s names unknown library %s", name, v.Name, c.Name, l)
				}
				if c.Install != nil {
					assert.NotEmpty(t, c.Install.Namespace, "%s/%s component %s installs into no namespace", name, v.Name, c.Name)
				}
			}
			for _, c := range v.Components {
				if c.Install == nil {
					continue
				}
				for _, dep := range c.Install.DependsOn {
					assert.True(t, installable[dep], "%s/%s component %s depends on %s, not an installable sibling", name, v.Name, c.Name, dep)
				}
			}
		}
	}
}

// artifactName is the operator's ExternalArtifact naming rule (operator/internal/artifacts):
// "<packagesource>-<variant>-<component>", dots turned into dashes.
func artifactName(source, variant, component string) string {
	return strings.ReplaceAll(source+"-"+variant+"-"+component, ".", "-")
}

// TestChartRefsNameBuiltArtifacts: the ExternalArtifacts the example charts point at (the
// HelmRelease of apps/echo, the release chart of each ApplicationDefinition) are ones the
// catalogue makes the operator build.
func TestChartRefsNameBuiltArtifacts(t *testing.T) {
	built := map[string]string{} // artifact -> chart path
	for name, ps := range loadSources(t) {
		for _, v := range ps.Spec.Variants {
			for _, c := range v.Components {
				built[artifactName(name, v.Name, c.Name)] = c.Path
			}
		}
	}
	refs := map[string]string{} // referring chart -> artifact
	objs, err := renderObjects("apps/echo", nil, nil, nil)
	require.NoError(t, err)
	hr := objectsOfKind(objs, "HelmRelease")
	require.Len(t, hr, 1)
	for _, o := range hr {
		refs["apps/echo"] = chartRef(t, o, "spec", "chartRef")
		assert.Equal(t, "system/echo", built[refs["apps/echo"]], "apps/echo must deploy system/echo")
	}
	for _, rd := range []struct{ dir, app string }{{"system/widget-rd", "apps/widget"}, {"system/echo-rd", "apps/echo"}, {"system/quota-rd", "extra/quota"}} {
		objs, err := renderObjects(rd.dir, nil, nil, nil)
		require.NoError(t, err)
		defs := objectsOfKind(objs, "ApplicationDefinition")
		require.Len(t, defs, 1, rd.dir)
		for _, o := range defs {
			ref := chartRef(t, o, "spec", "release", "chartRef")
			assert.Equal(t, rd.app, built[ref], "%s: artifact %s must hold %s", rd.dir, ref, rd.app)
		}
	}
	for chart, ref := range refs {
		assert.Contains(t, built, ref, "%s points at artifact %s, which no PackageSource builds", chart, ref)
	}
}

func chartRef(t *testing.T, o *unstructured.Unstructured, fields ...string) string {
	t.Helper()
	ref, ok, err := unstructured.NestedStringMap(o.Object, fields...)
	require.NoError(t, err)
	require.True(t, ok, "%s %s has no %s", o.GetKind(), o.GetName(), strings.Join(fields, "."))
	assert.Equal(t, "ExternalArtifact", ref["kind"])
	assert.Equal(t, "cozy-system", ref["namespace"])
	return ref["name"]
}

// TestApplicationDefinitionSchemasMatchCharts: an ApplicationDefinition's openAPISchema is the
// application chart's values.schema.json; the copy in files/openapi.json must not drift, and
// the rendered text must be that schema.
func TestApplicationDefinitionSchemasMatchCharts(t *testing.T) {
	for _, rd := range []struct{ dir, app string }{{"system/widget-rd", "apps/widget"}, {"system/echo-rd", "apps/echo"}, {"system/quota-rd", "extra/quota"}} {
		t.Run(rd.dir, func(t *testing.T) {
			want, err := os.ReadFile(filepath.Join(rd.app, "values.schema.json"))
			require.NoError(t, err)
			got, err := os.ReadFile(filepath.Join(rd.dir, "files", "openapi.json"))
			require.NoError(t, err)
			assert.Equal(t, string(want), string(got), "copy %s/values.schema.json to %s/files/openapi.json", rd.app, rd.dir)

			objs, err := renderObjects(rd.dir, nil, nil, nil)
			require.NoError(t, err)
			for _, o := range objectsOfKind(objs, "ApplicationDefinition") {
				text, _, _ := unstructured.NestedString(o.Object, "spec", "application", "openAPISchema")
				var compact bytes.Buffer
				require.NoError(t, json.Compact(&compact, want))
				assert.JSONEq(t, compact.String(), text)
			}
		})
	}
}

// TestApplicationDefinitionCRDMatchesOperator: the CRD chart ships the file controller-gen
// writes; regenerate, then copy it again.
func TestApplicationDefinitionCRDMatchesOperator(t *testing.T) {
	const name = "cozystack.io_applicationdefinitions.yaml"
	want, err := os.ReadFile(filepath.Join("..", "operator", "crds", name))
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join("system", "application-definition-crd", "crds", name))
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got), "copy operator/crds/%s to packages/system/application-definition-crd/crds/", name)
}

// TestIspFullInstallsEveryExamplePackage: the full variant is the one that exercises the whole
// catalogue, so nothing in sources/ may be left out of it.
func TestIspFullInstallsEveryExamplePackage(t *testing.T) {
	objs, err := renderPlatform(platformVariants[1], offline, nil)
	require.NoError(t, err)
	got := keys(objectsOfKind(objs, "Package"))
	want := sourceNames(t)
	sort.Strings(want)
	assert.Equal(t, want, got)
}

// TestMigrationsTargetMatchesOperator: a fresh install is stamped at migrations.targetVersion
// and the hook runs only below it, while `cozystack-operator migrate` goes to migrate.Target;
// the two must agree. The constant is read from the operator's source (packages/ cannot import
// operator/internal).
func TestMigrationsTargetMatchesOperator(t *testing.T) {
	src := filepath.Join("..", "operator", "internal", "migrate", "migration.go")
	f, err := parser.ParseFile(token.NewFileSet(), src, nil, 0)
	require.NoError(t, err)
	target := ""
	ast.Inspect(f, func(n ast.Node) bool {
		if vs, ok := n.(*ast.ValueSpec); ok && len(vs.Names) == 1 && vs.Names[0].Name == "Target" && len(vs.Values) == 1 {
			if lit, ok := vs.Values[0].(*ast.BasicLit); ok {
				target = lit.Value
			}
		}
		return target == ""
	})
	require.NotEmpty(t, target, "no `const Target = <n>` in %s", src)

	data, err := os.ReadFile(filepath.Join(platformDir, "values.yaml"))
	require.NoError(t, err)
	var vals struct {
		Migrations struct {
			TargetVersion int `json:"targetVersion"`
		} `json:"migrations"`
	}
	require.NoError(t, yaml.Unmarshal(data, &vals))
	assert.Equal(t, target, strconv.Itoa(vals.Migrations.TargetVersion), "set migrations.targetVersion in %s/values.yaml to the operator's migrate.Target", platformDir)
}

// TestEchoReleaseValuesFitTheSystemChart: the values apps/echo hands to system/echo through its
// HelmRelease must pass system/echo's schema, for every overlay of apps/echo.
func TestEchoReleaseValuesFitTheSystemChart(t *testing.T) {
	for _, overlays := range [][]string{nil, {"values-micro.yaml"}} {
		objs, err := renderObjects("apps/echo", overlays, nil, nil)
		require.NoError(t, err)
		for _, hr := range objectsOfKind(objs, "HelmRelease") {
			vals, ok, err := unstructured.NestedMap(hr.Object, "spec", "values")
			require.NoError(t, err)
			require.True(t, ok)
			_, err = renderObjects("system/echo", nil, vals, nil)
			assert.NoError(t, err, "apps/echo %v", overlays)
		}
	}
}
