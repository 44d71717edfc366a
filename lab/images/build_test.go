package images

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

func TestGoBuildArgs(t *testing.T) {
	assert.Equal(t, []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", "/bin/pause", "example.com/cmd/pause"},
		GoBuildArgs("/bin/pause", "example.com/cmd/pause"))
}

func TestBuildRejectsBadOptions(t *testing.T) {
	ctx := context.Background()
	for name, tc := range map[string]struct {
		opts Options
		want string
	}{
		"no registry":   {Options{Names: []string{Pause}}, "set Options.Registry"},
		"unknown image": {Options{Registry: "127.0.0.1:1", Names: []string{"nginx"}}, `unknown image "nginx"`},
		"no checkout":   {Options{Registry: "127.0.0.1:1", Names: []string{Pause}, BinDir: t.TempDir()}, "image pause: build github.com/cozylab/cozylab/lab/cmd/pause: no repository root"},
	} {
		t.Run(name, func(t *testing.T) {
			rec := &progress.Recorder{}
			tc.opts.Progress = rec
			_, err := Build(ctx, tc.opts)
			assert.ErrorContains(t, err, tc.want)
			for _, r := range rec.Records() {
				assert.Equal(t, progress.Failed, r.Outcome, "a failed image's step ends with ✗")
			}
		})
	}
}

// TestCatalogProgramsArePrebuilts: every in-repo image's binary is a prebuilt program with the
// same package, arguments and environment, so a prebuilt binary gives the image this package
// would build.
func TestCatalogProgramsArePrebuilts(t *testing.T) {
	for _, img := range Catalog() {
		if img.Package == "" {
			continue
		}
		prog, err := prebuilt.Lookup(img.Name)
		require.NoError(t, err, "image %s has no prebuilt program of the same name", img.Name)
		assert.Equal(t, img.Package, prog.ImportPath(), img.Name)
		assert.Equal(t, GoBuildArgs("/out", img.Package), prog.Args("/out"), img.Name)
		assert.Equal(t, prebuilt.StaticEnv(""), prog.Environ(), img.Name)
	}
}

// TestBuildTakesThePrebuiltBinaryWithoutGo builds the pause image with go, then with the
// program prebuilt.Build made and no go command: the same digest. Without either, the error
// names both fixes.
func TestBuildTakesThePrebuiltBinaryWithoutGo(t *testing.T) {
	ctx := t.Context()
	reg, err := registry.Start(registry.Options{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, reg.Close()) })
	t.Setenv(prebuilt.Env, "")
	built, err := Build(ctx, Options{Registry: reg.Addr(), RepoRoot: "../..", Names: []string{Pause}, BinDir: t.TempDir()})
	require.NoError(t, err)
	dir := t.TempDir()
	_, err = prebuilt.Build(ctx, "../..", dir, nil, prebuilt.Pause)
	require.NoError(t, err)

	t.Setenv("PATH", t.TempDir())
	_, err = Build(ctx, Options{Registry: reg.Addr(), RepoRoot: "../..", Names: []string{Pause}, BinDir: t.TempDir()})
	require.ErrorIs(t, err, prebuilt.ErrNoGo)
	assert.ErrorContains(t, err, "image pause: no go command to build pause")
	assert.ErrorContains(t, err, "install Go 1.26 and put it on PATH, or set COZYLAB_PREBUILT to a directory holding a prebuilt pause")

	t.Setenv(prebuilt.Env, dir)
	rec := &progress.Recorder{}
	again, err := Build(ctx, Options{Registry: reg.Addr(), Names: []string{Pause}, Progress: rec})
	require.NoError(t, err, "no checkout is needed either")
	require.Len(t, again, 1)
	assert.Equal(t, built[0].Digest, again[0].Digest, "the prebuilt binary makes the image go build makes")
	assert.False(t, again[0].Pushed)
	assert.Contains(t, rec.Statuses("image "+again[0].Image.Upstream), "prebuilt "+filepath.Join(dir, prebuilt.Pause))
}
