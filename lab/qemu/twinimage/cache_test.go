package twinimage

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
)

func TestAgentIsPrebuilts(t *testing.T) {
	prog, err := prebuilt.Lookup(prebuilt.TwinAgent)
	require.NoError(t, err)
	assert.Equal(t, AgentPackage, prog.Package)
	assert.Equal(t, []string{"build", "-trimpath", "-ldflags=-s -w", "-o", "/out", AgentPackage}, prog.Args("/out"))
	assert.Equal(t, "amd64", prog.Arch, "the guest is x86_64")
}

// TestBuildTakesThePrebuiltAgentWithoutGo: with no go command the image's /init is the prebuilt
// agent; with no prebuilt agent either, the error names both fixes.
func TestBuildTakesThePrebuiltAgentWithoutGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())

	dir := t.TempDir()
	t.Setenv(prebuilt.Env, dir)

	opts := fakeHost(t)
	opts.AgentPath, opts.RepoRoot = "", "../../.."

	_, _, err := Build(t.Context(), opts)
	require.ErrorIs(t, err, prebuilt.ErrNoGo)
	assert.ErrorContains(t, err, "install Go 1.26 and put it on PATH, or set COZYLAB_PREBUILT to a directory holding a prebuilt cozylab-twin")

	require.NoError(t, os.WriteFile(filepath.Join(dir, prebuilt.TwinAgent), []byte("prebuilt agent"), 0o755))

	rec := &progress.Recorder{}
	opts.Reporter = rec

	_, initrd, err := Build(t.Context(), opts)
	require.NoError(t, err)

	files, _ := readInitramfs(t, initrd)
	assert.Equal(t, "prebuilt agent", files["init"].Data)
	assert.Equal(t, progress.Skipped, rec.Records()[0].Outcome)
	assert.Equal(t, "prebuilt "+filepath.Join(dir, prebuilt.TwinAgent), rec.Records()[0].Note)
}
