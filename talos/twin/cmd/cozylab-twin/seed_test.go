package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kdomanski/iso9660"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeISO writes an iso9660 image with files under label to path.
func writeISO(t *testing.T, path, label string, files map[string]string) {
	t.Helper()

	w, err := iso9660.NewWriter()
	require.NoError(t, err)

	defer func() { require.NoError(t, w.Cleanup()) }()

	for name, data := range files {
		require.NoError(t, w.AddFile(bytes.NewReader([]byte(data)), name))
	}

	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, w.WriteTo(f, label))
	require.NoError(t, f.Close())
}

func TestFindSeed(t *testing.T) {
	root := t.TempDir()
	sysBlock, dev := filepath.Join(root, "sys"), filepath.Join(root, "dev")

	for _, name := range []string{"vda", "vdb", "sr0"} {
		require.NoError(t, os.MkdirAll(filepath.Join(sysBlock, name), 0o755))
	}

	require.NoError(t, os.MkdirAll(dev, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dev, "vda"), make([]byte, 64*1024), 0o600))
	writeISO(t, filepath.Join(dev, "vdb"), "other", map[string]string{"meta-data": "hostname: wrong\n"})
	writeISO(t, filepath.Join(dev, "sr0"), "cidata", map[string]string{
		"meta-data": "local-hostname: cp-1\n", "network-config": "version: 2\n", "user-data": "version: v1alpha1\n",
	})

	s, err := findSeed(t.Context(), sysBlock, dev, time.Second)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dev, "sr0"), s.Device)
	assert.Equal(t, "local-hostname: cp-1\n", string(s.MetaData))
	assert.Equal(t, "version: 2\n", string(s.NetworkConfig))
	assert.Equal(t, "version: v1alpha1\n", string(s.UserData))
}

func TestFindSeedGivesUp(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sys", "vda"), 0o755))

	_, err := findSeed(t.Context(), filepath.Join(root, "sys"), filepath.Join(root, "dev"), 600*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "devices: vda")
}
