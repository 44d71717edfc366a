package packages

import (
	"flag"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
)

// updatePlatform rewrites the platform goldens: go test ./packages -run TestPlatformGolden -update-platform
var updatePlatform = flag.Bool("update-platform", false, "rewrite testdata/platform/*.yaml from the current render")

// TestPlatformGolden renders every platform variant offline and compares it with
// testdata/platform/<variant>.yaml, so any change to what the platform installs shows in review.
func TestPlatformGolden(t *testing.T) {
	for _, v := range platformVariants {
		t.Run(v.name, func(t *testing.T) {
			var overlays []string
			if v.overlay != "" {
				overlays = []string{v.overlay}
			}
			got, err := renderWithLookup(platformDir, overlays, offline, nil)
			require.NoError(t, err)
			golden := filepath.Join("testdata", "platform", v.name+".yaml")
			if *updatePlatform {
				require.NoError(t, os.MkdirAll(filepath.Dir(golden), 0o755))
				require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "no golden file: run go test ./packages -run TestPlatformGolden -update-platform")
			assert.Equal(t, string(want), got, "render differs from %s; rerun with -update-platform if intended", golden)
		})
	}
}

// TestPlatformFailsWithoutItsSource: without the operator's source the platform cannot build
// cozystack-packages, and says so, unless the render is declared offline.
func TestPlatformFailsWithoutItsSource(t *testing.T) {
	_, err := renderPlatform(platformVariants[0], nil, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "platform source OCIRepository cozy-system/cozystack-platform not found")
	assert.Contains(t, err.Error(), "sourceRef.allowMissing=true")

	objs, err := renderPlatform(platformVariants[0], offline, nil)
	require.NoError(t, err)
	assert.Empty(t, objectsOfKind(objs, "OCIRepository"), "offline render must not invent a source")
}

// TestPlatformVariantsInstallTheirBundles checks the Packages of each variant, each kept on
// uninstall, and that the default variant is only the catalogue.
func TestPlatformVariantsInstallTheirBundles(t *testing.T) {
	every := sourceNames(t)
	want := map[string][]string{
		"default":    nil,
		"isp-full":   every,
		"isp-hosted": {"cozystack.application-definition-crd", "cozystack.echo-application", "cozystack.widget-application", "cozystack.widget-operator"},
		"isp-full-generic": {"cozystack.application-definition-crd", "cozystack.quota-application",
			"cozystack.widget-application", "cozystack.widget-operator"},
	}
	for _, v := range platformVariants {
		t.Run(v.name, func(t *testing.T) {
			objs, err := renderPlatform(v, offline, nil)
			require.NoError(t, err)
			pkgs := objectsOfKind(objs, "Package")
			assert.ElementsMatch(t, want[v.name], keys(pkgs))
			for name, p := range pkgs {
				assert.Equal(t, "keep", p.GetAnnotations()["helm.sh/resource-policy"], name)
			}
			assert.Len(t, objectsOfKind(objs, "PackageSource"), len(every), "the catalogue is the same in every variant")
		})
	}
}

// TestPlatformPackageDependenciesAreInstalled: every variant installs the packages its Packages'
// variants depend on, or they would wait forever.
func TestPlatformPackageDependenciesAreInstalled(t *testing.T) {
	sources := loadSources(t)
	for _, v := range platformVariants {
		t.Run(v.name, func(t *testing.T) {
			objs, err := renderPlatform(v, offline, nil)
			require.NoError(t, err)
			pkgs := objectsOfKind(objs, "Package")
			for name, p := range pkgs {
				variant, _, _ := unstructured.NestedString(p.Object, "spec", "variant")
				ps, ok := sources[name]
				require.True(t, ok, "Package %s has no PackageSource in sources/", name)
				pv, ok := ps.FindVariant(variant)
				require.True(t, ok, "Package %s: PackageSource has no variant %q", name, variant)
				for _, dep := range pv.DependsOn {
					assert.Contains(t, pkgs, dep, "Package %s depends on %s, which %s does not install", name, dep, v.name)
				}
			}
		})
	}
}

// TestPlatformEnabledAndDisabledPackages: enabledPackages adds optional Packages,
// disabledPackages removes any Package, and disabled wins over enabled.
func TestPlatformEnabledAndDisabledPackages(t *testing.T) {
	bundles := func(enabled, disabled []any) map[string]any {
		return map[string]any{"bundles": map[string]any{
			"system": map[string]any{"enabled": true}, "paas": map[string]any{"enabled": true},
			"enabledPackages": enabled, "disabledPackages": disabled,
		}}
	}
	const echo, widget = "cozystack.echo-application", "cozystack.widget-application"
	tests := []struct {
		name              string
		enabled, disabled []any
		has, hasNot       []string
	}{
		{name: "optional off by default", has: []string{widget}, hasNot: []string{echo}},
		{name: "enabled", enabled: []any{echo}, has: []string{echo, widget}},
		{name: "disabled wins", enabled: []any{echo}, disabled: []any{echo}, has: []string{widget}, hasNot: []string{echo}},
		{name: "disabled regular package", disabled: []any{widget}, hasNot: []string{widget, echo}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := renderPlatform(platformVariants[0], merged(offline, bundles(tt.enabled, tt.disabled)), nil)
			require.NoError(t, err)
			pkgs := objectsOfKind(objs, "Package")
			for _, n := range tt.has {
				assert.Contains(t, pkgs, n)
			}
			for _, n := range tt.hasNot {
				assert.NotContains(t, pkgs, n)
			}
		})
	}
}

// TestPlatformBundlesNeedSystem: the paas and tenant bundles depend on the system bundle's
// CRD; enabling one alone is refused at render time with the fix in the message.
func TestPlatformBundlesNeedSystem(t *testing.T) {
	for _, b := range []string{"paas", "tenant"} {
		_, err := renderPlatform(platformVariants[0], merged(offline, map[string]any{"bundles": map[string]any{b: map[string]any{"enabled": true}}}), nil)
		require.Error(t, err, b)
		assert.Contains(t, err.Error(), "bundles."+b+".enabled needs bundles.system.enabled")
	}
}

// TestPlatformSingletons checks the objects every variant renders once: the values Secret, the
// version record (fresh install), the deletion guard, and no migration Job without a record.
func TestPlatformSingletons(t *testing.T) {
	for _, v := range platformVariants {
		t.Run(v.name, func(t *testing.T) {
			objs, err := renderPlatform(v, offline, nil)
			require.NoError(t, err)
			secret := objectsOfKind(objs, "Secret")["cozystack-values"]
			require.NotNil(t, secret)
			assert.Equal(t, "Enabled", secret.GetLabels()["reconcile.fluxcd.io/watch"])
			data, _, _ := unstructured.NestedStringMap(secret.Object, "data")
			assert.Equal(t, []string{"values.yaml"}, keys(data))

			cm := objectsOfKind(objs, "ConfigMap")["cozystack-version"]
			require.NotNil(t, cm, "a fresh install is stamped at the target version")
			assert.Equal(t, "true", cm.GetLabels()["platform.cozystack.io/no-delete"])
			assert.Equal(t, "keep", cm.GetAnnotations()["helm.sh/resource-policy"])

			assert.Contains(t, objectsOfKind(objs, "ValidatingAdmissionPolicy"), "cozystack-deletion-guard")
			assert.Contains(t, objectsOfKind(objs, "ValidatingAdmissionPolicyBinding"), "cozystack-deletion-guard")
			assert.Empty(t, objectsOfKind(objs, "Job"), "no migrations on a fresh install")
		})
	}
}

// TestPlatformSchemaAcceptsImageReferences: a registry with a port (a lab's local registry)
// and a digest are valid image references.
func TestPlatformSchemaAcceptsImageReferences(t *testing.T) {
	for _, img := range []string{
		"ghcr.io/cozystack/cozystack/cozystack-operator:v1.6.0",
		"127.0.0.1:44589/cozystack-operator@sha256:" + strings.Repeat("ab", 32),
		"registry.local:5000/ns/op:v1@sha256:" + strings.Repeat("0f", 32),
		"operator",
	} {
		_, err := renderPlatform(platformVariants[0], merged(offline, map[string]any{"migrations": map[string]any{"image": img}}), nil)
		assert.NoError(t, err, img)
	}
}

// TestPlatformSchemaRejectsMalformedValues: the platform's values.schema.json refuses bad input
// before anything renders, naming the field.
func TestPlatformSchemaRejectsMalformedValues(t *testing.T) {
	tests := []struct {
		name string
		set  map[string]any
		want string
	}{
		{"unknown top-level key", map[string]any{"bundle": map[string]any{}}, "'bundle' not allowed"},
		{"unknown bundle", map[string]any{"bundles": map[string]any{"iaas": map[string]any{"enabled": true}}}, "'iaas' not allowed"},
		{"enabled not a bool", map[string]any{"bundles": map[string]any{"system": map[string]any{"enabled": "yes"}}}, "'/bundles/system/enabled'"},
		{"bad package name", map[string]any{"bundles": map[string]any{"enabledPackages": []any{"echo"}}}, "'/bundles/enabledPackages/0'"},
		{"unknown bundle name", map[string]any{"bundles": map[string]any{"name": "distro-full"}}, "'/bundles/name'"},
		{"git source", map[string]any{"sourceRef": map[string]any{"kind": "GitRepository"}}, "'/sourceRef/kind'"},
		{"latest image", map[string]any{"migrations": map[string]any{"image": "example.org/operator:latest"}}, "'/migrations/image'"},
		{"target version zero", map[string]any{"migrations": map[string]any{"targetVersion": 0}}, "'/migrations/targetVersion'"},
		{"bad host", map[string]any{"publishing": map[string]any{"host": "Example Org"}}, "'/publishing/host'"},
		{"widget variant", map[string]any{"bundles": map[string]any{"system": map[string]any{"widgetOperatorVariant": "huge"}}}, "'/bundles/system/widgetOperatorVariant'"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := renderPlatform(platformVariants[0], merged(offline, tt.set), nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "values don't meet the specifications of the schema")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestChartSchemasRejectMalformedValues: each example chart's schema refuses what a user (or a
// platform overlay) must not set, and accepts the platform's own _cluster values.
func TestChartSchemasRejectMalformedValues(t *testing.T) {
	tests := []struct {
		dir  string
		set  map[string]any
		want string
	}{
		{"apps/widget", map[string]any{"size": "huge"}, "size"},
		{"apps/widget", map[string]any{"replicas": 6}, "replicas"},
		{"apps/widget", map[string]any{"image": "x"}, "image"},
		{"apps/widget", map[string]any{"message": strings.Repeat("x", 257)}, "message"},
		{"apps/echo", map[string]any{"replicas": 0}, "replicas"},
		{"apps/echo", map[string]any{"resourcesPreset": "huge"}, "resourcesPreset"},
		{"apps/echo", map[string]any{"port": 80}, "port"},
		{"extra/quota", map[string]any{"cpu": "lots"}, "cpu"},
		{"extra/quota", map[string]any{"pods": 0}, "pods"},
		{"extra/quota", map[string]any{"defaults": map[string]any{"gpu": "1"}}, "gpu"},
		{"system/echo", map[string]any{"image": map[string]any{"tag": "latest"}}, "tag"},
		{"system/widget-operator", map[string]any{"replicas": 4}, "replicas"},
		{"system/widget-rd", map[string]any{"release": map[string]any{"prefix": "Widget."}}, "prefix"},
		{"system/echo-rd", map[string]any{"dashboard": map[string]any{"tabs": []any{"logs"}}}, "tabs"},
		{"system/quota-rd", map[string]any{"application": map[string]any{"kind": "quota"}}, "kind"},
		{"system/application-definition-crd", map[string]any{"enabled": true}, "enabled"},
	}
	for _, tt := range tests {
		t.Run(tt.dir+"/"+tt.want, func(t *testing.T) {
			_, err := renderWithLookup(tt.dir, nil, tt.set, nil)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "values don't meet the specifications of the schema")
			assert.Contains(t, err.Error(), tt.want)
		})
	}
	for _, dir := range []string{"apps/widget", "apps/echo", "extra/quota"} {
		_, err := renderWithLookup(dir, nil, map[string]any{"_cluster": map[string]any{"root-host": "example.org"}}, nil)
		assert.NoError(t, err, "%s must accept the platform's _cluster values", dir)
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return slices.Clip(out)
}
