//go:build integration

package debian

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBusyboxFromApt takes busybox-static the way the sandbox image does — apt names the .deb,
// it is fetched and checked, its data archive becomes a layer — and runs the busybox binary the
// layer holds: the image's shell is a real one.
func TestBusyboxFromApt(t *testing.T) {
	ctx := t.Context()
	debs, err := Resolve(ctx, "busybox-static")
	require.NoError(t, err, "apt must know busybox-static (run apt-get update)")
	require.Len(t, debs, 1)
	cache := t.TempDir()
	path, err := Fetch(ctx, cache, debs[0])
	require.NoError(t, err)
	info, err := os.Stat(path)
	require.NoError(t, err)
	again, err := Fetch(ctx, cache, debs[0])
	require.NoError(t, err)
	assert.Equal(t, path, again)
	info2, err := os.Stat(again)
	require.NoError(t, err)
	assert.Equal(t, info.ModTime(), info2.ModTime(), "a cached .deb with the right digest is not fetched again")

	data, err := DataTar(path)
	require.NoError(t, err)
	files, err := Files(data)
	require.NoError(t, err)
	require.Contains(t, files, "bin/busybox")

	layer, err := Layer(data)
	require.NoError(t, err)
	digest, err := layer.Digest()
	require.NoError(t, err)
	again2, err := Layer(data)
	require.NoError(t, err)
	digest2, err := again2.Digest()
	require.NoError(t, err)
	assert.Equal(t, digest, digest2, "the same package gives the same layer")

	rc, err := layer.Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	tr := tar.NewReader(rc)
	bin := filepath.Join(t.TempDir(), "busybox")
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatal("the layer has no bin/busybox")
		}
		require.NoError(t, err)
		assert.Zero(t, h.Uid, h.Name)
		if h.Name == "bin/busybox" {
			assert.Equal(t, int64(0o755), h.Mode&0o777)
			f, err := os.OpenFile(bin, os.O_CREATE|os.O_WRONLY, 0o755)
			require.NoError(t, err)
			_, err = io.Copy(f, tr)
			require.NoError(t, err)
			require.NoError(t, f.Close())
			break
		}
	}
	out, err := exec.Command(bin, "sh", "-c", "echo shell from the layer").CombinedOutput()
	require.NoError(t, err, "%s", out)
	assert.Equal(t, "shell from the layer\n", string(out))
}

func TestResolveNamesAnUnknownPackage(t *testing.T) {
	_, err := Resolve(t.Context(), "no-such-package-cozylab")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no-such-package-cozylab")
}
