package twinimage

import (
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
)

const fakeModulesDep = `kernel/drivers/virtio/virtio_ring.ko:
kernel/drivers/virtio/virtio.ko: kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/char/hw_random/virtio-rng.ko: kernel/drivers/virtio/virtio.ko kernel/drivers/virtio/virtio_ring.ko
`

// fakeHost lays out a /boot and /lib/modules with one kernel and tiny binaries.
func fakeHost(t *testing.T) Options {
	t.Helper()

	root := t.TempDir()
	write := func(rel, data string, mode os.FileMode) string {
		p := filepath.Join(root, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), mode))

		return p
	}

	write("boot/vmlinuz-6.1.0-9-amd64", "old kernel", 0o644)
	write("boot/vmlinuz-6.1.0-56-amd64", "kernel", 0o644)
	write("lib/modules/6.1.0-56-amd64/modules.dep", fakeModulesDep, 0o644)
	write("lib/modules/6.1.0-56-amd64/modules.builtin", "kernel/drivers/char/hw_random/rng-core.ko\n", 0o644)

	for _, line := range strings.Split(strings.TrimSpace(fakeModulesDep), "\n") {
		mod, _, _ := strings.Cut(line, ":")
		write("lib/modules/6.1.0-56-amd64/"+mod, "module "+mod, 0o644)
	}

	return Options{
		EtcdPath:      write("bin/etcd", "etcd binary", 0o755),
		APIServerPath: write("bin/kube-apiserver", "apiserver binary", 0o755),
		AgentPath:     write("bin/agent", "agent binary", 0o755),
		Modules:       []string{"virtio_net", "virtio_rng", "rng-core"},
		BootDir:       filepath.Join(root, "boot"),
		ModulesDir:    filepath.Join(root, "lib/modules"),
		CacheDir:      filepath.Join(root, "cache"),
	}
}

// readInitramfs returns each regular file's mode and content, and every directory, by name.
func readInitramfs(t *testing.T, path string) (map[string]cpio.FileMode, map[string]string, []string) {
	t.Helper()

	f, err := os.Open(path)
	require.NoError(t, err)

	defer f.Close()

	gz, err := gzip.NewReader(f)
	require.NoError(t, err)

	modes, files := map[string]cpio.FileMode{}, map[string]string{}

	var dirs []string

	r := cpio.NewReader(gz)

	for {
		hdr, err := r.Next()
		if err == io.EOF {
			break
		}

		require.NoError(t, err)

		if hdr.Mode.IsDir() {
			dirs = append(dirs, hdr.Name)

			continue
		}

		data, err := io.ReadAll(r)
		require.NoError(t, err)

		modes[hdr.Name], files[hdr.Name] = hdr.Mode, string(data)
	}

	return modes, files, dirs
}

func TestBuildWritesInitramfs(t *testing.T) {
	opts := fakeHost(t)

	kernel, initrd, err := Build(t.Context(), opts)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(opts.BootDir, "vmlinuz-6.1.0-56-amd64"), kernel, "the newest kernel")

	modes, files, dirs := readInitramfs(t, initrd)

	assert.Equal(t, "agent binary", files["init"])
	assert.Equal(t, cpio.FileMode(0o755), modes["init"].Perm(), "/init is executable")
	assert.True(t, modes["init"].IsRegular())
	assert.Equal(t, "etcd binary", files["usr/bin/etcd"])
	assert.Equal(t, "apiserver binary", files["usr/bin/kube-apiserver"])
	assert.Equal(t, cpio.FileMode(0o755), modes["usr/bin/kube-apiserver"].Perm())

	prefix := "/lib/modules/6.1.0-56-amd64/kernel/"
	assert.Equal(t, strings.Join([]string{
		prefix + "net/core/failover.ko",
		prefix + "drivers/net/net_failover.ko",
		prefix + "drivers/virtio/virtio_ring.ko",
		prefix + "drivers/virtio/virtio.ko",
		prefix + "drivers/net/virtio_net.ko",
		prefix + "drivers/char/hw_random/virtio-rng.ko",
	}, "\n")+"\n", files["etc/modules.order"], "dependencies first, each once; built-in rng-core skipped")

	for _, line := range strings.Fields(files["etc/modules.order"]) {
		assert.Contains(t, files, strings.TrimPrefix(line, "/"), "listed module is in the image")
	}

	assert.Equal(t, []string{"etc", "lib", "usr", "lib/modules", "usr/bin"}, dirs[:5], "parents come before children")
}

func TestBuildIsCached(t *testing.T) {
	opts := fakeHost(t)

	_, first, err := Build(t.Context(), opts)
	require.NoError(t, err)

	rec := &progress.Recorder{}
	opts.Reporter = rec

	_, second, err := Build(t.Context(), opts)
	require.NoError(t, err)
	assert.Equal(t, first, second)
	require.Len(t, rec.Records(), 1)
	assert.Equal(t, progress.Skipped, rec.Records()[0].Outcome)

	require.NoError(t, os.WriteFile(opts.EtcdPath, []byte("another etcd"), 0o755))

	_, third, err := Build(t.Context(), opts)
	require.NoError(t, err)
	assert.NotEqual(t, first, third, "a changed input is a new image")
}

func TestBuildErrors(t *testing.T) {
	opts := fakeHost(t)
	opts.Modules = []string{"no_such_module"}

	_, _, err := Build(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no_such_module")

	opts = fakeHost(t)
	opts.BootDir = t.TempDir()

	_, _, err = Build(t.Context(), opts)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "apt-get install linux-image-amd64")
}

func TestCompareVersions(t *testing.T) {
	assert.Negative(t, compareVersions("6.1.0-9-amd64", "6.1.0-56-amd64"))
	assert.Positive(t, compareVersions("6.10.0-1-amd64", "6.9.0-1-amd64"))
	assert.Zero(t, compareVersions("6.1.0-56-amd64", "6.1.0-56-amd64"))
}
