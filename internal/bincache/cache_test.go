package bincache

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
)

func helloTool(version string) Tool {
	return Tool{
		Name: "hello", Module: "example.com/hello", Package: "example.com/hello", Version: version, Dir: "hello",
		LDFlags:     []string{"-s", "-w", "-X", "main.version=" + version},
		VersionArgs: []string{}, VersionWant: "hello version " + version,
	}
}

func testCache(t *testing.T, root string, tools ...Tool) (*Cache, *progress.Recorder) {
	t.Helper()
	rec := &progress.Recorder{}
	toolsDir, err := filepath.Abs(filepath.Join("testdata", "tools"))
	require.NoError(t, err)
	return &Cache{Root: root, ToolsDir: toolsDir, Tools: tools, Progress: rec}, rec
}

func outcomes(rec *progress.Recorder) []progress.Outcome {
	var out []progress.Outcome
	for _, r := range rec.Records() {
		out = append(out, r.Outcome)
	}
	return out
}

func TestEnsureBuildsOnceThenCaches(t *testing.T) {
	root := t.TempDir()
	cache, rec := testCache(t, root, helloTool("v1.2.3"))
	ctx := context.Background()

	paths, err := cache.Ensure(ctx)
	require.NoError(t, err)
	want := filepath.Join(root, "hello", "v1.2.3", "hello")
	assert.Equal(t, want, paths["hello"])
	out, err := command.Run(execCommand(want))
	require.NoError(t, err)
	assert.Equal(t, "hello version v1.2.3\n", string(out))
	assert.Contains(t, rec.Statuses("hello v1.2.3"), "downloading modules")

	_, err = cache.Ensure(ctx, "hello")
	require.NoError(t, err)
	assert.Equal(t, []progress.Outcome{progress.Succeeded, progress.Skipped}, outcomes(rec))
	assert.Equal(t, "cached", rec.Records()[1].Note)

	entries, err := cache.List(ctx)
	require.NoError(t, err)
	require.Len(t, entries, 1)
	assert.Equal(t, want, entries[0].Path)
	assert.Positive(t, entries[0].Size)
	assert.Positive(t, entries[0].BuildTime)
	assertNoTemps(t, filepath.Dir(want))
}

func TestEnsureConcurrentCallersBuildOnce(t *testing.T) {
	root := t.TempDir()
	var wg sync.WaitGroup
	recs := make([]*progress.Recorder, 4)
	errs := make([]error, 4)
	for i := range recs {
		// Separate Cache values share nothing but the directory, as separate processes would.
		cache, rec := testCache(t, root, helloTool("v1.0.0"))
		recs[i] = rec
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, errs[i] = cache.Ensure(context.Background())
		}()
	}
	wg.Wait()
	built := 0
	for i, rec := range recs {
		require.NoError(t, errs[i])
		for _, o := range outcomes(rec) {
			if o == progress.Succeeded {
				built++
			}
		}
	}
	assert.Equal(t, 1, built, "exactly one caller builds; the others find it cached")
}

func TestEnsureRebuildsWhenRecipeOrBinaryChanges(t *testing.T) {
	root := t.TempDir()
	tool := helloTool("v2.0.0")
	cache, rec := testCache(t, root, tool)
	ctx := context.Background()
	paths, err := cache.Ensure(ctx)
	require.NoError(t, err)

	// A changed linker flag changes the recipe: the stale binary is rebuilt, not trusted.
	tool.LDFlags = append(tool.LDFlags, "-X", "main.unused=x")
	cache.Tools = []Tool{tool}
	_, err = cache.Ensure(ctx)
	require.NoError(t, err)

	// A corrupted binary no longer reports its version: rebuilt.
	require.NoError(t, os.WriteFile(paths["hello"], []byte("#!/bin/sh\necho garbage\n"), 0o755))
	_, err = cache.Ensure(ctx)
	require.NoError(t, err)
	assert.Equal(t, []progress.Outcome{progress.Succeeded, progress.Succeeded, progress.Succeeded}, outcomes(rec))
}

func TestEnsureWrongVersionIsNotCached(t *testing.T) {
	root := t.TempDir()
	tool := helloTool("v3.0.0")
	tool.VersionWant = "hello version v9.9.9"
	cache, _ := testCache(t, root, tool)
	_, err := cache.Ensure(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `want it to contain "hello version v9.9.9"`)
	assert.Contains(t, err.Error(), "hello version v3.0.0")
	dir := filepath.Join(root, "hello", "v3.0.0")
	assert.NoFileExists(t, filepath.Join(dir, "hello"))
	assertNoTemps(t, dir)
}

func TestEnsureFailedBuildReportsAndRetries(t *testing.T) {
	root := t.TempDir()
	tool := Tool{Name: "broken", Module: "example.com/broken", Package: "example.com/broken", Version: "v0.1.0", Dir: "broken", VersionWant: "x"}
	cache, rec := testCache(t, root, tool)
	for range 2 { // the second run retries from scratch and fails the same way
		_, err := cache.Ensure(context.Background())
		require.Error(t, err)
		assert.Contains(t, err.Error(), "build broken v0.1.0")
		assert.Contains(t, err.Error(), "undefined: undefinedFunction")
		var cmdErr *command.Error
		require.ErrorAs(t, err, &cmdErr)
		assert.Equal(t, 1, cmdErr.ExitCode)
		assertNoTemps(t, filepath.Join(root, "broken", "v0.1.0"))
	}
	assert.Equal(t, []progress.Outcome{progress.Failed, progress.Failed}, outcomes(rec))
}

func TestEnsureNeedsCCompilerForCgoTools(t *testing.T) {
	tool := helloTool("v4.0.0")
	tool.CGO = true
	cache, _ := testCache(t, t.TempDir(), tool)
	t.Setenv("CC", "/nonexistent/cc")
	_, err := cache.Ensure(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "apt-get install -y gcc")
}

func TestEnsureUnknownTool(t *testing.T) {
	cache, _ := testCache(t, t.TempDir(), helloTool("v1.0.0"))
	_, err := cache.Ensure(context.Background(), "nope")
	require.EqualError(t, err, `unknown tool "nope": the binaries cache knows hello`)
}

func TestDefaultRootHonoursXDG(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/some/cache")
	root, err := DefaultRoot()
	require.NoError(t, err)
	assert.Equal(t, "/some/cache/cozylab/bin", root)
}

func assertNoTemps(t *testing.T, dir string) {
	t.Helper()
	matches, err := filepath.Glob(filepath.Join(dir, ".*.tmp-*"))
	require.NoError(t, err)
	assert.Empty(t, matches, "temporary binaries left behind")
}

func execCommand(path string, args ...string) *exec.Cmd { return exec.Command(path, args...) }

// TestEnsureUsesPrebuiltWithoutGo: a tool in the prebuilt directory at its pinned version is
// used where there is no go command, without reading the tools modules; one at another version
// is not, and the error then names both fixes.
func TestEnsureUsesPrebuiltWithoutGo(t *testing.T) {
	built, _ := testCache(t, t.TempDir(), helloTool("v1.5.0"))
	paths, err := built.Ensure(t.Context())
	require.NoError(t, err)
	dir := t.TempDir()
	raw, err := os.ReadFile(paths["hello"])
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "hello"), raw, 0o755))

	t.Setenv(prebuilt.Env, dir)
	t.Setenv("PATH", t.TempDir())
	rec := &progress.Recorder{}
	cache := &Cache{Root: t.TempDir(), ToolsDir: filepath.Join(t.TempDir(), "absent"), Tools: []Tool{helloTool("v1.5.0")}, Progress: rec}
	got, err := cache.Ensure(t.Context(), "hello")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"hello": filepath.Join(dir, "hello")}, got)
	require.Len(t, rec.Records(), 1)
	assert.Equal(t, progress.Skipped, rec.Records()[0].Outcome)
	assert.Equal(t, "prebuilt", rec.Records()[0].Note)

	other, rec := testCache(t, t.TempDir(), helloTool("v9.0.0"))
	_, err = other.Ensure(t.Context())
	require.ErrorIs(t, err, prebuilt.ErrNoGo)
	assert.ErrorContains(t, err, "install Go 1.26 and put it on PATH, or set COZYLAB_PREBUILT to a directory holding a prebuilt hello")
	assert.Contains(t, rec.Statuses("hello v9.0.0")[0], "not using prebuilt "+filepath.Join(dir, "hello"))
}
