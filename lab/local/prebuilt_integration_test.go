//go:build integration

package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/daemon"
	"github.com/cozylab/cozylab/lab/state"
)

// kwokTools are the binaries cache's tools a kwok-only local lab runs.
var kwokTools = Tools(false)

// TestKwokLabComesUpAndDownWithoutGo: with the daemon prebuilt and the tools copied from the
// binaries cache into a COZYLAB_PREBUILT directory, a kwok-only local lab comes up and goes
// down with no go command on PATH — the daemon is the prebuilt file, every tool is reported as
// prebuilt — and lab:down leaves no process and nothing in the state root.
func TestKwokLabComesUpAndDownWithoutGo(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	_, err := prebuilt.Build(ctx, "../..", dir, progress.Discard, prebuilt.Daemon)
	require.NoError(t, err)
	paths, err := (&bincache.Cache{}).Ensure(ctx, kwokTools...)
	require.NoError(t, err, "the tools, built with go as usual")
	for name, path := range paths {
		require.NoError(t, linkOrCopy(path, filepath.Join(dir, name)))
	}

	t.Setenv(prebuilt.Env, dir)
	t.Setenv("PATH", pathWithoutGo(t))
	_, err = exec.LookPath("go")
	require.Error(t, err, "no go command is left on PATH")

	repo, err := filepath.Abs("../..")
	require.NoError(t, err)
	root := t.TempDir()
	p := New(root, state.Request{Name: "prebuilt", Provider: ProviderName, RepoRoot: repo, LocalNodes: state.LocalNodesKwok})
	t.Cleanup(func() { assert.NoError(t, p.Down(context.WithoutCancel(ctx), progress.Discard)) })
	rec := &progress.Recorder{}
	require.NoError(t, p.Up(ctx, rec))

	bin := filepath.Join(p.Dir(), "bin", prebuilt.Daemon)
	assertSameFile(t, filepath.Join(dir, prebuilt.Daemon), bin)
	store, err := p.Open()
	require.NoError(t, err)
	id, ok := daemon.Recorded(store)
	require.True(t, ok, "the daemon recorded itself")
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", id.Pid))
	require.NoError(t, err)
	assert.Equal(t, bin, exe, "the running daemon is the prebuilt file")
	notes := map[string]string{}
	for _, r := range rec.Records() {
		notes[r.Title] = r.Note
	}
	for _, name := range kwokTools {
		tool, ok := bincache.Lookup(name)
		require.True(t, ok)
		assert.Equal(t, "prebuilt", notes[tool.Name+" "+tool.Version], "%s comes from %s", name, dir)
	}
	st, err := p.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "up", st.Phase)
	assert.NotEmpty(t, labProcesses(t, dir), "the lab runs the prebuilt tools")

	require.NoError(t, p.Down(ctx, progress.Discard))
	assert.Empty(t, labProcesses(t, p.Dir()), "no process of the lab is left")
	assert.Empty(t, labProcesses(t, dir), "no prebuilt program is left running")
	assert.NoDirExists(t, p.Dir())
	left, err := os.ReadDir(root)
	require.NoError(t, err)
	assert.Empty(t, left, "nothing is left in the state root")
	st, err = p.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "absent", st.Phase)
}

// pathWithoutGo is PATH without the directories that hold a go command.
func pathWithoutGo(t *testing.T) string {
	t.Helper()
	var keep []string
	for _, d := range filepath.SplitList(os.Getenv("PATH")) {
		if _, err := os.Stat(filepath.Join(d, "go")); err == nil {
			continue
		}
		keep = append(keep, d)
	}
	if len(keep) == 0 {
		return t.TempDir()
	}
	return strings.Join(keep, string(filepath.ListSeparator))
}

func assertSameFile(t *testing.T, want, got string) {
	t.Helper()
	wi, err := os.Stat(want)
	require.NoError(t, err)
	gi, err := os.Stat(got)
	require.NoError(t, err)
	assert.True(t, os.SameFile(wi, gi), "%s is %s", got, want)
}

// linkOrCopy makes dst the file src: a hard link, or a copy across file systems.
func linkOrCopy(src, dst string) error {
	if os.Link(src, dst) == nil {
		return nil
	}
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		return fmt.Errorf("copy %s: %w", src, err)
	}
	return out.Close()
}
