package provider

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCopyLogKeepsTheEndOfALongLog(t *testing.T) {
	dir := t.TempDir()
	from, to := filepath.Join(dir, "etcd.log"), filepath.Join(dir, "out", "etcd.log")
	require.NoError(t, os.Mkdir(filepath.Dir(to), 0o700))
	long := append(bytes.Repeat([]byte("x"), MaxLog), []byte("the last line says why\n")...)
	require.NoError(t, os.WriteFile(from, long, 0o644))
	require.NoError(t, CopyLog(from, to))
	got, err := os.ReadFile(to)
	require.NoError(t, err)
	assert.Len(t, got, MaxLog)
	assert.True(t, bytes.HasSuffix(got, []byte("the last line says why\n")))
	fi, err := os.Stat(to)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	require.NoError(t, CopyLog(filepath.Join(dir, "never-started.log"), filepath.Join(dir, "out", "n.log")), "a missing log is skipped")
	assert.NoFileExists(t, filepath.Join(dir, "out", "n.log"))
}
