package registry

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/command"
)

func TestBuildArgs(t *testing.T) {
	assert.Equal(t, []string{
		"build", "-trimpath", "-ldflags", "-s -w", "-o", "/out/op",
		"github.com/cozylab/cozylab/operator/cmd/cozystack-operator",
	}, BuildArgs("/out/op"))
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
