package prebuilt

import (
	"debug/buildinfo"
	"debug/elf"
	"errors"
	"go/build"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
)

// repoRoot is the module root, from this package's directory.
const repoRoot = "../.."

// withoutGo leaves t's PATH with no go command on it (an empty directory).
func withoutGo(t *testing.T) {
	t.Helper()
	t.Setenv("PATH", t.TempDir())
}

func writeFile(t *testing.T, path string, mode fs.FileMode) {
	t.Helper()
	require.NoError(t, os.WriteFile(path, []byte("#!/bin/sh\n"), mode))
}

func TestPath(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "tool"), 0o755)
	writeFile(t, filepath.Join(dir, "data"), 0o644)
	require.NoError(t, os.Mkdir(filepath.Join(dir, "folder"), 0o755))
	require.NoError(t, os.Symlink(filepath.Join(dir, "tool"), filepath.Join(dir, "link")))

	t.Run("unset", func(t *testing.T) {
		t.Setenv(Env, "")
		_, ok := Path("tool")
		assert.False(t, ok)
	})
	for name, want := range map[string]bool{
		"tool":    true,
		"link":    true, // the file it names is executable
		"data":    false,
		"folder":  false,
		"missing": false,
		"":        false,
		"../tool": false,
	} {
		t.Run(name, func(t *testing.T) {
			t.Setenv(Env, dir)
			got, ok := Path(name)
			assert.Equal(t, want, ok)
			if want {
				assert.Equal(t, filepath.Join(dir, name), got)
			}
		})
	}
	t.Run("relative", func(t *testing.T) {
		t.Chdir(dir)
		t.Setenv(Env, ".")
		got, ok := Path("tool")
		require.True(t, ok)
		assert.True(t, filepath.IsAbs(got), "a daemon started elsewhere must find it too: %s", got)
	})
}

func TestInstall(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "prog")
	writeFile(t, src, 0o755)
	t.Setenv(Env, dir)
	out := filepath.Join(t.TempDir(), "bin", "prog")

	ok, err := Install("other", out)
	require.NoError(t, err)
	assert.False(t, ok, "no prebuilt other")
	assert.NoFileExists(t, out)

	require.NoError(t, os.MkdirAll(filepath.Dir(out), 0o755))
	writeFile(t, out, 0o700) // a binary an earlier go build left
	for range 2 {            // the second time out is the prebuilt file already
		ok, err = Install("prog", out)
		require.NoError(t, err)
		assert.True(t, ok)
		assertSameFile(t, src, out)
	}
	entries, err := os.ReadDir(filepath.Dir(out))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left")
}

func assertSameFile(t *testing.T, a, b string) {
	t.Helper()
	ai, err := os.Stat(a)
	require.NoError(t, err)
	bi, err := os.Stat(b)
	require.NoError(t, err)
	assert.True(t, os.SameFile(ai, bi), "%s is %s", b, a)
}

// TestBuild builds the smallest program, as the image builders would, and checks it is static,
// stripped of local paths and of the commit, and reported as one step.
func TestBuild(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "prebuilt")
	rec := &progress.Recorder{}
	paths, err := Build(t.Context(), repoRoot, dir, rec, Pause)
	require.NoError(t, err)
	require.Equal(t, map[string]string{Pause: filepath.Join(dir, Pause)}, paths)
	t.Setenv(Env, dir)
	got, ok := Path(Pause)
	require.True(t, ok, "Build's output is what Path finds")
	assert.Equal(t, paths[Pause], got)

	f, err := elf.Open(got)
	require.NoError(t, err)
	defer f.Close()
	for _, p := range f.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "static: no program interpreter")
	}
	info, err := buildinfo.ReadFile(got)
	require.NoError(t, err)
	assert.Equal(t, module+"/lab/cmd/pause", info.Path)
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	assert.Equal(t, "0", settings["CGO_ENABLED"])
	assert.Equal(t, "linux", settings["GOOS"])
	assert.Equal(t, "true", settings["-trimpath"])
	assert.NotContains(t, settings, "vcs.revision", "no commit in an image's binary")

	require.Len(t, rec.Records(), 1)
	assert.Equal(t, "Building pause ("+module+"/lab/cmd/pause)", rec.Records()[0].Title)
	assert.Equal(t, progress.Succeeded, rec.Records()[0].Outcome)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file is left")
}

func TestBuildRejectsAnUnknownName(t *testing.T) {
	_, err := Build(t.Context(), repoRoot, t.TempDir(), nil, "nginx")
	require.ErrorContains(t, err, `unknown program "nginx": the lab builds cozylab, cozylab-lab, cozystack-operator, pause, source-watcher, echo, cozylab-twin`)
}

func TestWithoutGoTheErrorNamesBothFixes(t *testing.T) {
	withoutGo(t)
	const want = `no go command to build pause (exec: "go": executable file not found in $PATH): install Go 1.26 and put it on PATH, or set COZYLAB_PREBUILT to a directory holding a prebuilt pause`
	_, err := GoCommand(t.Context(), Pause, "version")
	require.EqualError(t, err, want)
	assert.True(t, errors.Is(err, ErrNoGo))

	rec := &progress.Recorder{}
	dir := t.TempDir()
	_, err = Build(t.Context(), repoRoot, dir, rec, Pause)
	require.ErrorIs(t, err, ErrNoGo)
	assert.Equal(t, progress.Failed, rec.Records()[0].Outcome)
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Empty(t, entries)
}

func TestArgs(t *testing.T) {
	assert.Equal(t, []string{"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", "/out/x", "example.com/x"},
		ImageArgs("/out/x", "example.com/x"))
	daemon, err := Lookup(Daemon)
	require.NoError(t, err)
	assert.Equal(t, []string{"build", "-o", "/out/d", "./lab/cmd/cozylab-lab"}, daemon.Args("/out/d"))
	assert.Equal(t, module+"/lab/cmd/cozylab-lab", daemon.ImportPath())
	env := daemon.Environ()
	assert.Equal(t, []string{"CGO_ENABLED=0", "GOOS=linux"}, env[len(env)-3:len(env)-1], "the daemon is static too")
	twin, err := Lookup(TwinAgent)
	require.NoError(t, err)
	env = twin.Environ()
	assert.Equal(t, []string{"GOARCH=amd64", "GOFLAGS=-mod=readonly"}, env[len(env)-2:], "the twin guest is x86_64")
	echo, ok := ByPackage(module + "/packages/system/echo/images/echo")
	require.True(t, ok)
	assert.Equal(t, Echo, echo.Name)
	assert.Equal(t, "packages/system/echo/images/echo", echo.Dir())
	assert.Equal(t, "lab/cmd/cozylab-lab", daemon.Dir())
}

// TestProgramsCoverTheRepository checks that every program is a main package of this
// module, and that every main package the run-time builders build by convention — the lab's
// commands and the charts' images — is a program (a new one must be added to Programs, or the
// sandbox image would lack it).
func TestProgramsCoverTheRepository(t *testing.T) {
	seen := map[string]bool{}
	for _, p := range Programs {
		assert.False(t, seen[p.Name], "%s is listed twice", p.Name)
		seen[p.Name] = true
		rel, ok := cutModule(p.ImportPath())
		require.True(t, ok, "%s: %s is not in %s", p.Name, p.Package, module)
		pkg, err := build.ImportDir(filepath.Join(repoRoot, rel), 0)
		require.NoError(t, err, p.Name)
		assert.Equal(t, "main", pkg.Name, p.Name)
	}
	var want []string
	cmds, err := filepath.Glob(filepath.Join(repoRoot, "lab", "cmd", "*"))
	require.NoError(t, err)
	want = append(want, cmds...)
	err = filepath.WalkDir(filepath.Join(repoRoot, "packages"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != "images" {
			return err
		}
		imgs, err := filepath.Glob(filepath.Join(path, "*"))
		if err != nil {
			return err
		}
		want = append(want, imgs...)
		return fs.SkipDir
	})
	require.NoError(t, err)
	require.NotEmpty(t, want)
	for _, dir := range want {
		pkg, err := build.ImportDir(dir, 0)
		if err != nil || pkg.Name != "main" {
			continue
		}
		rel, err := filepath.Rel(repoRoot, dir)
		require.NoError(t, err)
		_, ok := ByPackage(module + "/" + filepath.ToSlash(rel))
		assert.True(t, ok, "main package %s is built at run time but is not in prebuilt.Programs", rel)
	}
}

func cutModule(importPath string) (string, bool) {
	if importPath == module {
		return ".", true
	}
	rel, ok := strings.CutPrefix(importPath, module+"/")
	return filepath.FromSlash(rel), ok
}
