package packageloop

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

// TestImageTakesThePrebuiltBinaryWithoutGo builds the echo chart's image with go, then with the
// program prebuilt.Build made and no go command: the same digest (prebuilt builds it from the
// module root, Image from the chart; the flags make them one binary). Without either, the error
// names both fixes. values.yaml is only read (KeepValues).
func TestImageTakesThePrebuiltBinaryWithoutGo(t *testing.T) {
	ctx := t.Context()
	reg, err := registry.Start(registry.Options{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, reg.Close()) })
	const chart = "../../packages/system/echo"
	opts := ImageOptions{ChartDir: chart, Registry: reg.Addr(), KeepValues: true}
	t.Setenv(prebuilt.Env, "")
	built, err := Image(ctx, opts, nil)
	require.NoError(t, err)
	require.Len(t, built.Images, 1)
	dir := t.TempDir()
	_, err = prebuilt.Build(ctx, "../..", dir, nil, prebuilt.Echo)
	require.NoError(t, err)

	t.Setenv("PATH", t.TempDir())
	_, err = Image(ctx, opts, nil)
	require.ErrorIs(t, err, prebuilt.ErrNoGo)
	assert.ErrorContains(t, err, "install Go 1.26 and put it on PATH, or set COZYLAB_PREBUILT to a directory holding a prebuilt echo")

	t.Setenv(prebuilt.Env, dir)
	rec := &progress.Recorder{}
	again, err := Image(ctx, opts, rec)
	require.NoError(t, err)
	require.Len(t, again.Images, 1)
	assert.Equal(t, built.Images[0].Digest, again.Images[0].Digest, "the prebuilt binary makes the image go build makes")
	assert.Equal(t, built.NewValues, again.NewValues)
	assert.False(t, again.Images[0].Pushed)
	assert.Contains(t, rec.Statuses("Image echo (ghcr.io/cozylab/echo)"), "prebuilt "+filepath.Join(dir, prebuilt.Echo))
}

func TestImageOutsideAGoModuleWithoutGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Chart.yaml":       "apiVersion: v2\nname: x\nversion: 0.1.0\n",
		"values.yaml":      "image:\n  repository: ghcr.io/cozylab/x\n",
		"images/x/main.go": "package main\n\nfunc main() {}\n",
	})
	_, err := Image(t.Context(), ImageOptions{ChartDir: dir, Registry: "127.0.0.1:1"}, progress.Discard)
	require.ErrorIs(t, err, ErrNoGoModule, "the e2e keeps such a chart's values, as with go")
}

func TestModuleImportPath(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "mod", "charts", "a", "images", "x"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(root, "mod", "charts"), filepath.Join(root, "charts")))
	m := goModule{Dir: filepath.Join(root, "mod"), Path: "example.com/m"}
	for dir, want := range map[string]string{
		filepath.Join(root, "mod"):                               "example.com/m",
		filepath.Join(root, "mod", "charts", "a", "images", "x"): "example.com/m/charts/a/images/x",
		filepath.Join(root, "charts", "a", "images", "x"):        "example.com/m/charts/a/images/x", // through a link
		filepath.Join(root, "elsewhere"):                         "",
	} {
		assert.Equal(t, want, m.importPath(dir), dir)
	}
	assert.Empty(t, goModule{Dir: m.Dir}.importPath(m.Dir), "a go.mod without a module line names no package")
}

// TestImageOfACopiedTreeTakesThePrebuiltBinary: a copy of packages/ outside any Go module, as
// the sandbox image holds, gets its images from the prebuilt directory, with go or without;
// with no prebuilt binary it is outside a module as before (the e2e keeps its values).
func TestImageOfACopiedTreeTakesThePrebuiltBinary(t *testing.T) {
	ctx := t.Context()
	reg, err := registry.Start(registry.Options{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, reg.Close()) })
	chart := filepath.Join(t.TempDir(), "src", "packages", "system", "echo")
	require.NoError(t, os.CopyFS(chart, os.DirFS("../../packages/system/echo")))
	opts := ImageOptions{ChartDir: chart, Registry: reg.Addr(), KeepValues: true}
	dir := t.TempDir()
	t.Setenv(prebuilt.Env, dir)
	_, err = Image(ctx, opts, nil)
	require.ErrorIs(t, err, ErrNoGoModule, "no prebuilt echo yet")
	_, err = prebuilt.Build(ctx, "../..", dir, nil, prebuilt.Echo)
	require.NoError(t, err)

	res, err := Image(ctx, opts, nil)
	require.NoError(t, err)
	require.Len(t, res.Images, 1)
	t.Setenv("PATH", t.TempDir())
	again, err := Image(ctx, opts, nil)
	require.NoError(t, err)
	assert.Equal(t, res.Images[0].Digest, again.Images[0].Digest)
	t.Setenv(prebuilt.Env, "")
	_, err = Image(ctx, opts, nil)
	require.ErrorIs(t, err, ErrNoGoModule)
}
