package registry

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
)

// TestBuildArgs: the operator is built as every in-repo image's binary is, and as prebuilt
// builds it, so the prebuilt operator is the one built here and lab/images' operator image has
// the same binary.
func TestBuildArgs(t *testing.T) {
	assert.Equal(t, []string{
		"build", "-trimpath", "-buildvcs=false", "-ldflags=-s -w", "-o", "/out/op",
		"github.com/cozylab/cozylab/operator/cmd/cozystack-operator",
	}, BuildArgs("/out/op"))
	prog, err := prebuilt.Lookup(prebuilt.Operator)
	require.NoError(t, err)
	assert.Equal(t, prog.Args("/out/op"), BuildArgs("/out/op"))
	assert.Equal(t, OperatorPackage, prog.ImportPath())
	assert.Empty(t, prog.Env)
}

// TestBuildOperatorBinaryTakesThePrebuiltOneWithoutGo: with a prebuilt operator and no go
// command, the operator at out is the prebuilt file; with neither, the error names both fixes.
func TestBuildOperatorBinaryTakesThePrebuiltOneWithoutGo(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	dir := t.TempDir()
	t.Setenv(prebuilt.Env, dir)
	out := filepath.Join(t.TempDir(), "e2e", "cozystack-operator")
	err := BuildOperatorBinary(context.Background(), "../..", out)
	require.ErrorIs(t, err, prebuilt.ErrNoGo)
	assert.ErrorContains(t, err, "install Go 1.26 and put it on PATH, or set COZYLAB_PREBUILT to a directory holding a prebuilt cozystack-operator")
	assert.NoFileExists(t, out)

	src := filepath.Join(dir, prebuilt.Operator)
	require.NoError(t, os.WriteFile(src, []byte("#!/bin/sh\n"), 0o755))
	require.NoError(t, BuildOperatorBinary(context.Background(), "../..", out))
	want, err := os.Stat(src)
	require.NoError(t, err)
	got, err := os.Stat(out)
	require.NoError(t, err)
	assert.True(t, os.SameFile(want, got), "%s is the prebuilt operator", out)
}

func TestBuildOperatorBinaryOutsideTheModuleIsATypedError(t *testing.T) {
	dir := t.TempDir()
	err := BuildOperatorBinary(context.Background(), dir, filepath.Join(dir, "out", "op"))
	require.Error(t, err)
	var cerr *command.Error
	require.True(t, errors.As(err, &cerr), "want a *command.Error, got %T: %v", err, err)
	assert.Equal(t, "go", cerr.Argv[0])
	assert.Equal(t, dir, cerr.Dir)
	assert.Equal(t, 1, cerr.ExitCode)
	assert.NotEmpty(t, cerr.Tail, "the go command's complaint must be kept")
}
