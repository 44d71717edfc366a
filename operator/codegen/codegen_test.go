package codegen

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/operator/flux"
)

// repoRoot is the repository, two folders up from this package.
const repoRoot = "../.."

func TestControllerGenArgv(t *testing.T) {
	byTitle := map[string]generator{}
	for _, g := range generators() {
		byTitle[g.title] = g
	}
	assert.Equal(t, []string{"object", "paths=./operator/api/...", "output:object:dir=/tmp/x"},
		byTitle["deepcopy functions of operator/api"].argv("/tmp/x"))
	assert.Equal(t, []string{"crd:crdVersions=v1", "paths=./operator/api/...", "output:crd:dir=/tmp/x"},
		byTitle["CRDs of operator/api"].argv("/tmp/x"))

	want := []string{"crd:crdVersions=v1"}
	for _, c := range flux.Components() {
		want = append(want, "paths="+c.APIModule+"/...")
	}
	want = append(want, "output:crd:dir=/tmp/x")
	fluxGen := byTitle["Flux CRDs"]
	assert.Equal(t, want, fluxGen.argv("/tmp/x"))
	assert.Equal(t, controllerGenModule, fluxGen.dir)
}

// TestGeneratorsPointIntoTheRepository: every module directory and output folder exists, and
// the Flux CRDs run in the binaries cache's controller-gen tools module.
func TestGeneratorsPointIntoTheRepository(t *testing.T) {
	tool, ok := bincache.Lookup(bincache.ControllerGen)
	require.True(t, ok)
	assert.Equal(t, filepath.Join("internal", "bincache", "tools", tool.Dir), filepath.FromSlash(controllerGenModule))
	assert.FileExists(t, filepath.Join(repoRoot, controllerGenModule, "go.mod"))
	for _, g := range generators() {
		t.Run(g.title, func(t *testing.T) {
			if g.fn == nil {
				assert.DirExists(t, filepath.Join(repoRoot, g.dir))
			}
			matches, err := filepath.Glob(filepath.Join(repoRoot, g.out, g.owns))
			require.NoError(t, err)
			assert.NotEmpty(t, matches, "%s owns no file in %s", g.title, g.out)
		})
	}
}

// fakeGenerators write fixed files, standing in for controller-gen.
func fakeGenerators(files map[string]string) []generator {
	return []generator{{
		title: "fake", out: "gen", owns: "*.yaml",
		fn: func(_, out string) error {
			for name, body := range files {
				if err := os.WriteFile(filepath.Join(out, name), []byte(body), 0o644); err != nil {
					return err
				}
			}
			return nil
		},
	}}
}

// TestUpdateWritesOnlyWhatChanged: a changed file is replaced, a file no longer generated (a
// CRD whose type was removed) goes, a current file and a file the generator does not own stay
// untouched.
func TestUpdateWritesOnlyWhatChanged(t *testing.T) {
	repo, tmp := t.TempDir(), t.TempDir()
	ctx := context.Background()
	require.NoError(t, generate(ctx, progress.Discard, "", repo, repo,
		fakeGenerators(map[string]string{"current.yaml": "c", "changed.yaml": "old", "removed-type.yaml": "r"})))
	out := filepath.Join(repo, "gen")
	require.NoError(t, os.WriteFile(filepath.Join(out, "embed.go"), []byte("package gen"), 0o644))
	past := time.Now().Add(-time.Hour)
	require.NoError(t, os.Chtimes(filepath.Join(out, "current.yaml"), past, past))

	rec := &progress.Recorder{}
	gens := fakeGenerators(map[string]string{"current.yaml": "c", "changed.yaml": "new", "added.yaml": "a"})
	require.NoError(t, generate(ctx, rec, "", repo, tmp, gens))
	require.Len(t, rec.Records(), 1)
	assert.Equal(t, "Generating fake", rec.Records()[0].Title)
	assert.Equal(t, progress.Succeeded, rec.Records()[0].Outcome)

	stale, err := staleFiles(repo, tmp, gens)
	require.NoError(t, err)
	assert.Equal(t, []string{"gen/added.yaml", "gen/changed.yaml", "gen/removed-type.yaml"}, stale)
	require.NoError(t, update(repo, tmp, stale))

	for name, want := range map[string]string{"current.yaml": "c", "changed.yaml": "new", "added.yaml": "a", "embed.go": "package gen"} {
		raw, err := os.ReadFile(filepath.Join(out, name))
		require.NoError(t, err)
		assert.Equal(t, want, string(raw), name)
	}
	assert.NoFileExists(t, filepath.Join(out, "removed-type.yaml"))
	fi, err := os.Stat(filepath.Join(out, "current.yaml"))
	require.NoError(t, err)
	assert.True(t, fi.ModTime().Equal(past), "a current file is not rewritten")
	fi, err = os.Stat(filepath.Join(out, "changed.yaml"))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o644), fi.Mode().Perm())
	entries, err := os.ReadDir(out)
	require.NoError(t, err)
	assert.Len(t, entries, 4, "no temporary file is left behind")

	stale, err = staleFiles(repo, tmp, gens)
	require.NoError(t, err)
	assert.Empty(t, stale)
}

func TestGenerateReportsTheFailingGenerator(t *testing.T) {
	gens := []generator{{title: "broken", out: "gen", owns: "*.yaml", fn: func(_, _ string) error { return os.ErrPermission }}}
	rec := &progress.Recorder{}
	err := generate(context.Background(), rec, "", t.TempDir(), t.TempDir(), gens)
	require.ErrorIs(t, err, os.ErrPermission)
	assert.ErrorContains(t, err, "generate broken")
	require.Len(t, rec.Records(), 1)
	assert.Equal(t, progress.Failed, rec.Records()[0].Outcome)
}

func TestStaleFiles(t *testing.T) {
	for _, tc := range []struct {
		name string
		have map[string]string
		want []string
	}{
		{"current", map[string]string{"a.yaml": "a", "b.yaml": "b"}, nil},
		{"changed", map[string]string{"a.yaml": "a", "b.yaml": "edited"}, []string{"gen/b.yaml"}},
		{"missing", map[string]string{"a.yaml": "a"}, []string{"gen/b.yaml"}},
		{"left over", map[string]string{"a.yaml": "a", "b.yaml": "b", "c.yaml": "c"}, []string{"gen/c.yaml"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo, tmp := t.TempDir(), t.TempDir()
			ctx := context.Background()
			require.NoError(t, generate(ctx, progress.Discard, "", repo, repo, fakeGenerators(tc.have)))
			gens := fakeGenerators(map[string]string{"a.yaml": "a", "b.yaml": "b"})
			require.NoError(t, generate(ctx, progress.Discard, "", repo, tmp, gens))
			stale, err := staleFiles(repo, tmp, gens)
			require.NoError(t, err)
			assert.Equal(t, tc.want, stale)
		})
	}
}

func TestFluxAPIsPinned(t *testing.T) {
	components := []flux.Component{
		{Name: "source-controller", APIModule: "github.com/fluxcd/source-controller/api", Version: "v1.7.2"},
		{Name: "helm-controller", APIModule: "github.com/fluxcd/helm-controller/api", Version: "v1.4.3"},
	}
	gomod := func(t *testing.T, body string) string {
		path := filepath.Join(t.TempDir(), "go.mod")
		require.NoError(t, os.WriteFile(path, []byte(body), 0o644))
		return path
	}
	t.Run("pinned", func(t *testing.T) {
		path := gomod(t, "module tools\n\nrequire (\n\tgithub.com/fluxcd/source-controller/api v1.7.2\n\tgithub.com/fluxcd/helm-controller/api v1.4.3\n)\n")
		assert.NoError(t, fluxAPIsPinned(path, components))
	})
	t.Run("behind and missing", func(t *testing.T) {
		path := gomod(t, "module tools\n\nrequire github.com/fluxcd/source-controller/api v1.7.0\n")
		err := fluxAPIsPinned(path, components)
		require.Error(t, err)
		assert.ErrorContains(t, err, `requires github.com/fluxcd/source-controller/api "v1.7.0" but operator/flux pins v1.7.2: run go run mage.go gen`)
		assert.ErrorContains(t, err, `requires github.com/fluxcd/helm-controller/api "" but operator/flux pins v1.4.3`)
	})
	t.Run("the repository's tools module", func(t *testing.T) {
		assert.NoError(t, fluxAPIsPinned(filepath.Join(repoRoot, controllerGenModule, "go.mod"), flux.Components()))
	})
}

// TestNotInOperatorBinaries: the generators build controller-gen and run the go command; the
// operator's binaries must not carry them.
func TestNotInOperatorBinaries(t *testing.T) {
	cmd := exec.Command("go", "list", "-deps", "./operator/cmd/...")
	cmd.Dir = repoRoot
	out, err := cmd.Output()
	require.NoError(t, err, "go list -deps ./operator/cmd/...")
	assert.NotContains(t, strings.Fields(string(out)), "github.com/cozylab/cozylab/operator/codegen")
}
