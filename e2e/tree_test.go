package e2e

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Our tree offers exactly the variants the operator's platform PackageSource lists.
func TestPlatformVariantsOfOurTreeAreTheOperators(t *testing.T) {
	variants, err := PlatformVariants(filepath.Join("..", "packages"))
	require.NoError(t, err)
	assert.ElementsMatch(t, v1alpha1.PlatformVariants, variants)
}

func TestCheckTreeRefusesBadInputBeforeAnythingStarts(t *testing.T) {
	tree := t.TempDir()
	for _, f := range []string{platformChart, "core/platform/values.yaml", "core/platform/values-small.yaml", "core/installer/Chart.yaml"} {
		require.NoError(t, os.MkdirAll(filepath.Join(tree, filepath.Dir(f)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(tree, f), []byte("name: x\nversion: 0.1.0\n"), 0o644))
	}
	values := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(values, []byte("bundles:\n  enabled: [a]\n"), 0o644))
	ok := Options{RepoRoot: "..", Packages: tree, Installer: InstallerTree, Variant: "small", ValuesFile: values}
	require.NoError(t, ok.checkTree())

	for _, tt := range []struct {
		name string
		edit func(*Options)
		want string
	}{
		{"unknown installer", func(o *Options) { o.Installer = "theirs" }, `E2E_INSTALLER="theirs": want ours`},
		{"variant the tree lacks", func(o *Options) { o.Variant = "isp-full" }, `unknown platform variant "isp-full": ` + tree + ` offers default, small`},
		{"no platform chart", func(o *Options) { o.Packages, o.Installer = t.TempDir(), InstallerOurs }, "a packages tree has core/platform/Chart.yaml"},
		{"tree without an installer", func(o *Options) { o.Packages = filepath.Join("..", "packages", "apps") }, "installer chart"},
		{"unreadable values", func(o *Options) { o.ValuesFile = filepath.Join(tree, "missing.yaml") }, "read the platform values (E2E_VALUES)"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			o := ok
			tt.edit(&o)
			require.ErrorContains(t, o.checkTree(), tt.want)
		})
	}
}

func TestPlatformValuesOverrideOurs(t *testing.T) {
	values := filepath.Join(t.TempDir(), "values.yaml")
	require.NoError(t, os.WriteFile(values, []byte("migrations:\n  enabled: false\nbundles:\n  disabled: [widget]\n"), 0o644))
	user, err := Options{ValuesFile: values}.platformValues()
	require.NoError(t, err)
	got := mergeValues(user, map[string]any{"migrations": map[string]any{"image": "reg/op@sha256:1", "enabled": true}})
	assert.Equal(t, map[string]any{
		"migrations": map[string]any{"image": "reg/op@sha256:1", "enabled": false},
		"bundles":    map[string]any{"disabled": []any{"widget"}},
	}, got)
}
