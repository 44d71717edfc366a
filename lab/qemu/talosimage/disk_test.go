package talosimage

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// allocated is the space a file really takes (st_blocks are 512-byte units).
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	info, err := os.Stat(path)
	require.NoError(t, err)
	return info.Sys().(*syscall.Stat_t).Blocks * 512
}

func TestSystemDiskIsASparseCopyGrownToSize(t *testing.T) {
	dir := t.TempDir()
	raw := rawImage() // 16 bytes, 3 MiB of zeros, 11 bytes
	image := filepath.Join(dir, "nocloud-amd64.raw")
	require.NoError(t, os.WriteFile(image, raw, 0o644))
	disk := filepath.Join(dir, "system.raw")

	require.NoError(t, SystemDisk(image, disk, SystemDiskSize))
	info, err := os.Stat(disk)
	require.NoError(t, err)
	assert.Equal(t, int64(20<<30), info.Size())
	assert.Less(t, allocated(t, disk), int64(256<<10), "the zeros of the image and the growth are holes")

	f, err := os.Open(disk)
	require.NoError(t, err)
	defer f.Close()
	head := make([]byte, len(raw))
	_, err = io.ReadFull(f, head)
	require.NoError(t, err)
	assert.True(t, bytes.Equal(raw, head), "the image's bytes, holes read back as zeros")
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	assert.Len(t, entries, 2, "no temporary file left")
}

func TestSystemDiskRefusesAnImageLargerThanTheDisk(t *testing.T) {
	dir := t.TempDir()
	image := filepath.Join(dir, "image.raw")
	require.NoError(t, os.WriteFile(image, make([]byte, 4096), 0o644))
	err := SystemDisk(image, filepath.Join(dir, "disk.raw"), 1024)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "the image is 4096 bytes, larger than the disk's 1024")
	assert.NoFileExists(t, filepath.Join(dir, "disk.raw"))

	err = SystemDisk(filepath.Join(dir, "missing.raw"), filepath.Join(dir, "disk.raw"), SystemDiskSize)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "open Talos image")
}

func TestDataDiskIsSparse(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "data.raw")
	require.NoError(t, DataDisk(disk, DataDiskSize))
	info, err := os.Stat(disk)
	require.NoError(t, err)
	assert.Equal(t, int64(100<<30), info.Size())
	assert.Zero(t, allocated(t, disk))
}

func TestDiskInAMissingDirectoryFailsWithItsPath(t *testing.T) {
	disk := filepath.Join(t.TempDir(), "absent", "data.raw")
	err := DataDisk(disk, DataDiskSize)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "create disk "+disk)
}
