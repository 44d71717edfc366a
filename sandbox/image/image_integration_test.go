//go:build integration

package image

import (
	"archive/tar"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
)

// TestBuild assembles a sandbox image of two programs and a small tree: busybox with its
// applet links, each program in BinDir in a layer of its own, the tree under SrcDir, and a
// config that runs the pod program as root with HOME on the volume. The same inputs give the
// same digest; a changed program changes one layer only.
func TestBuild(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	write := func(p, s string, mode os.FileMode) {
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(s), mode))
	}
	write(filepath.Join(dir, "bin", "cozylab"), "#!/bin/sh\necho cozylab\n", 0o755)
	write(filepath.Join(dir, "bin", "etcd"), "#!/bin/sh\necho etcd\n", 0o755)
	write(filepath.Join(dir, "repo", "packages", "core", "platform", "Chart.yaml"), "name: platform\n", 0o644)
	write(filepath.Join(dir, "repo", "release.json"), "{}\n", 0o644)
	write(filepath.Join(dir, "repo", "secret.txt"), "not in the image\n", 0o644)
	opts := Options{
		Programs: map[string]string{"cozylab": filepath.Join(dir, "bin", "cozylab"), "etcd": filepath.Join(dir, "bin", "etcd")},
		RepoRoot: filepath.Join(dir, "repo"), Tree: []string{"packages", "release.json"}, Debs: filepath.Join(dir, "debs"),
		Packages: []string{"runc"}, Links: map[string]string{"/usr/sbin/run-c": "runc"},
	}
	img, err := Build(ctx, opts, progress.Discard.Begin("build"))
	require.NoError(t, err)
	files := flatten(t, img)
	assert.Equal(t, "#!/bin/sh\necho cozylab\n", files["opt/cozylab/bin/cozylab"].body)
	assert.EqualValues(t, 0o755, files["opt/cozylab/bin/etcd"].mode)
	assert.Equal(t, "name: platform\n", files["opt/cozylab/src/packages/core/platform/Chart.yaml"].body)
	assert.Contains(t, files, "opt/cozylab/src/release.json")
	assert.NotContains(t, files, "opt/cozylab/src/secret.txt", "only the named tree goes in")
	assert.Equal(t, "/bin/busybox", files["bin/sh"].link, "a shell: busybox's sh applet")
	for _, tool := range []string{"bin/tar", "bin/cat", "usr/bin/env", "usr/bin/test"} {
		assert.Equal(t, "/bin/busybox", files[tool].link, "%s, which the sandbox runs in the pod", tool)
	}
	assert.Contains(t, files, "bin/busybox")
	assert.Contains(t, files["etc/passwd"].body, "root:x:0:0:", "the users file the kubelet reads")
	assert.EqualValues(t, 0o1777, files["tmp"].mode)
	assert.Contains(t, files, "usr/sbin/runc", "a Debian package asked for")
	assert.Contains(t, files, "lib/x86_64-linux-gnu/libc.so.6", "and what it depends on")
	root := t.TempDir()
	unpack(t, img, root)
	out, err := exec.CommandContext(ctx, "chroot", root, "/usr/sbin/run-c", "--version").CombinedOutput()
	require.NoError(t, err, "runc runs on the image's own libraries, through a link the image made: %s", out)
	assert.Contains(t, string(out), "libseccomp")

	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{Entrypoint}, cfg.Config.Entrypoint)
	assert.Equal(t, []string{"sandbox", "pod"}, cfg.Config.Cmd)
	assert.Contains(t, cfg.Config.Env, "COZYLAB_PREBUILT="+BinDir)
	assert.Contains(t, cfg.Config.Env, "HOME="+Home)

	again, err := Build(ctx, opts, progress.Discard.Begin("build"))
	require.NoError(t, err)
	d1, err := img.Digest()
	require.NoError(t, err)
	d2, err := again.Digest()
	require.NoError(t, err)
	assert.Equal(t, d1, d2, "the same inputs give the same image")

	write(filepath.Join(dir, "bin", "cozylab"), "#!/bin/sh\necho cozylab 2\n", 0o755)
	changed, err := Build(ctx, opts, progress.Discard.Begin("build"))
	require.NoError(t, err)
	assert.Equal(t, 1, differingLayers(t, img, changed), "a changed program changes its layer only")
}

// unpack writes the image's files under root (directories, files, links).
func unpack(t *testing.T, img v1.Image, root string) {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err)
		p := filepath.Join(root, h.Name)
		switch h.Typeflag {
		case tar.TypeDir:
			require.NoError(t, os.MkdirAll(p, 0o755))
		case tar.TypeReg:
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(h.Mode))
			require.NoError(t, err)
			_, err = io.Copy(f, tr)
			require.NoError(t, err)
			require.NoError(t, f.Close())
		case tar.TypeSymlink:
			require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
			require.NoError(t, os.Symlink(h.Linkname, p))
		case tar.TypeLink:
			require.NoError(t, os.Link(filepath.Join(root, h.Linkname), p))
		}
	}
}

type entry struct {
	body, link string
	mode       int64
}

// flatten reads the image's files as a container would see them.
func flatten(t *testing.T, img v1.Image) map[string]entry {
	t.Helper()
	rc := mutate.Extract(img)
	defer rc.Close()
	out := map[string]entry{}
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		e := entry{link: h.Linkname, mode: h.Mode}
		if h.Typeflag == tar.TypeReg && h.Size < 1<<20 {
			b, err := io.ReadAll(tr)
			require.NoError(t, err)
			e.body = string(b)
		}
		out[h.Name] = e
	}
}

func differingLayers(t *testing.T, a, b v1.Image) int {
	t.Helper()
	la, err := a.Layers()
	require.NoError(t, err)
	lb, err := b.Layers()
	require.NoError(t, err)
	require.Equal(t, len(la), len(lb))
	n := 0
	for i := range la {
		da, err := la[i].Digest()
		require.NoError(t, err)
		db, err := lb[i].Digest()
		require.NoError(t, err)
		if da != db {
			n++
		}
	}
	return n
}
