//go:build integration

package registry

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/command"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

// extractFile copies the file at name (no leading slash) from the image's layers to dst.
func extractFile(t *testing.T, rc io.Reader, name, dst string) os.FileMode {
	t.Helper()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s is not in the image", name)
		}
		require.NoError(t, err)
		if h.Name != name {
			continue
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, h.FileInfo().Mode().Perm())
		require.NoError(t, err)
		_, err = io.Copy(f, tr)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		return h.FileInfo().Mode().Perm()
	}
}

func TestOperatorImageRoundTripRuns(t *testing.T) {
	if runtime.GOOS != "linux" || runtime.GOARCH != "amd64" {
		t.Skipf("the image holds a linux/amd64 binary; this machine is %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	ctx := context.Background()
	dir := t.TempDir()
	bin := filepath.Join(dir, "build", "cozystack-operator")
	require.NoError(t, BuildOperatorBinary(ctx, repoRoot(t), bin))

	r := startRegistry(t)
	pushed, err := PushBinaryImage(ctx, bin, r.Ref("cozystack/cozystack-operator", "dev"), ImageOptions{})
	require.NoError(t, err)

	byDigest, err := pushed.DigestRef()
	require.NoError(t, err)
	img := pullImage(t, byDigest)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	require.Equal(t, []string{OperatorBinaryPath}, cfg.Config.Entrypoint)

	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	extracted := filepath.Join(dir, "pulled", "cozystack-operator")
	require.NoError(t, os.MkdirAll(filepath.Dir(extracted), 0o755))
	assert.Equal(t, os.FileMode(0o755), extractFile(t, rc, "usr/bin/cozystack-operator", extracted))

	out, err := command.Run(exec.CommandContext(ctx, extracted, "--help"))
	require.NoError(t, err, "the pulled binary must run")
	assert.Contains(t, string(out), "-platform-source-url")
}
