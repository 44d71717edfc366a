package daemon

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/prebuilt"
)

func TestBuildIsPrebuiltsDaemon(t *testing.T) {
	prog, err := prebuilt.Lookup(prebuilt.Daemon)
	require.NoError(t, err)
	assert.Equal(t, Package, prog.Package, "prebuilt.Build builds the daemon Build builds")
}

// TestBuildTakesThePrebuiltDaemonWithoutGo: with a prebuilt daemon and no go command, Build
// puts the prebuilt file where the daemon is started from.
func TestBuildTakesThePrebuiltDaemonWithoutGo(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, prebuilt.Daemon)
	require.NoError(t, os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755))
	t.Setenv(prebuilt.Env, dir)
	t.Setenv("PATH", t.TempDir())
	out := filepath.Join(t.TempDir(), "lab", "bin", "cozylab-lab")
	require.NoError(t, Build(t.Context(), t.TempDir(), out))
	want, err := os.Stat(src)
	require.NoError(t, err)
	got, err := os.Stat(out)
	require.NoError(t, err)
	assert.True(t, os.SameFile(want, got), "%s is the prebuilt daemon", out)
}

func TestBuildWithoutGoOrPrebuiltNamesBothFixes(t *testing.T) {
	t.Setenv(prebuilt.Env, t.TempDir()) // a prebuilt directory without the daemon
	t.Setenv("PATH", t.TempDir())
	out := filepath.Join(t.TempDir(), "cozylab-lab")
	err := Build(t.Context(), "../..", out)
	require.ErrorIs(t, err, prebuilt.ErrNoGo)
	assert.EqualError(t, err, `build the lab daemon: no go command to build cozylab-lab (exec: "go": executable file not found in $PATH): `+
		`install Go 1.26 and put it on PATH, or set COZYLAB_PREBUILT to a directory holding a prebuilt cozylab-lab`)
	assert.NoFileExists(t, out)
}
