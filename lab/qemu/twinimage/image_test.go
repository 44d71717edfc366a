package twinimage

import (
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/realnode"
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

// Entry types as modes, to compare with archived modes.
const (
	typeReg     cpio.FileMode = cpio.TypeReg
	typeDir     cpio.FileMode = cpio.TypeDir
	typeSymlink cpio.FileMode = cpio.TypeSymlink
)

// archived is one entry of an initramfs: its mode and a file's content or a link's target.
type archived struct {
	Mode cpio.FileMode
	Data string
}

// readInitramfs reads an uncompressed newc archive: every entry by name, and the names in
// archive order.
func readInitramfs(t *testing.T, path string) (map[string]archived, []string) {
	t.Helper()

	f, err := os.Open(path)
	require.NoError(t, err)

	defer f.Close()

	out := map[string]archived{}

	var order []string

	r := cpio.NewReader(f)

	for {
		hdr, err := r.Next()
		if err == io.EOF {
			break
		}

		require.NoError(t, err)

		data, err := io.ReadAll(r)
		require.NoError(t, err)

		if hdr.Mode&^cpio.ModePerm&^(cpio.ModeSetuid|cpio.ModeSetgid|cpio.ModeSticky) == typeSymlink {
			data = []byte(hdr.Linkname)
		}

		require.NotContains(t, out, hdr.Name, "each path once")
		out[hdr.Name] = archived{Mode: hdr.Mode, Data: string(data)}
		order = append(order, hdr.Name)
	}

	return out, order
}

// typeOf is an archived mode's type bits.
func typeOf(m cpio.FileMode) cpio.FileMode {
	return m &^ cpio.ModePerm &^ (cpio.ModeSetuid | cpio.ModeSetgid | cpio.ModeSticky)
}

// requireParentsFirst checks that each entry's directory is in the archive before it, as the
// kernel unpacks in order.
func requireParentsFirst(t *testing.T, files map[string]archived, order []string) {
	t.Helper()

	seen := map[string]bool{}

	for _, name := range order {
		if dir := path.Dir(name); dir != "." {
			require.True(t, seen[dir], "%s comes after its directory %s", name, dir)
			require.Equal(t, typeDir, typeOf(files[dir].Mode), "%s is a directory", dir)
		}

		seen[name] = true
	}
}

func TestBuildWritesInitramfs(t *testing.T) {
	opts := withNode(t, fakeHost(t))

	kernel, initrd, err := Build(t.Context(), opts)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(opts.BootDir, "vmlinuz-6.1.0-56-amd64"), kernel, "the newest kernel")
	assert.Equal(t, initrdName, filepath.Base(initrd))

	magic := make([]byte, 6)
	f, err := os.Open(initrd)
	require.NoError(t, err)
	_, err = io.ReadFull(f, magic)
	require.NoError(t, f.Close())
	require.NoError(t, err)
	assert.Equal(t, "070701", string(magic), "uncompressed newc: QEMU and the kernel take it as is")

	files, order := readInitramfs(t, initrd)

	assert.Equal(t, "agent binary", files["init"].Data)
	assert.Equal(t, cpio.FileMode(0o755), files["init"].Mode.Perm(), "/init is executable")
	assert.True(t, files["init"].Mode.IsRegular())
	assert.Equal(t, "etcd binary", files["usr/bin/etcd"].Data)
	assert.Equal(t, "apiserver binary", files["usr/bin/kube-apiserver"].Data)
	assert.Equal(t, cpio.FileMode(0o755), files["usr/bin/kube-apiserver"].Mode.Perm())

	for guest, data := range map[string]string{
		GuestControllerManager: "controller-manager binary", GuestScheduler: "scheduler binary",
		GuestKubelet: "kubelet binary", GuestKubeProxy: "kube-proxy binary",
	} {
		name := strings.TrimPrefix(guest, "/")
		assert.Equal(t, data, files[name].Data, guest)
		assert.Equal(t, typeReg|0o755, files[name].Mode, guest)
	}

	assert.Equal(t, archived{Mode: typeSymlink | 0o777, Data: "iptables-nft"}, files["usr/sbin/iptables"])
	assert.Equal(t, archived{Mode: typeSymlink | 0o777, Data: "ip6tables-nft-save"}, files["usr/sbin/ip6tables-save"])

	assert.Contains(t, files["etc/passwd"].Data, "root:x:0:0:")
	assert.Contains(t, files["etc/group"].Data, "root:x:0:")
	assert.Contains(t, files["etc/nsswitch.conf"].Data, "hosts: files dns\n")
	assert.Contains(t, files["etc/hosts"].Data, "127.0.0.1\tlocalhost")
	assert.Equal(t, typeReg|0o644, files["etc/passwd"].Mode)
	assert.Equal(t, typeDir|cpio.ModeSticky|0o777, files["tmp"].Mode, "/tmp is world-writable and sticky")
	assert.Equal(t, typeDir|0o700, files["root"].Mode)

	prefix := "/lib/modules/6.1.0-56-amd64/kernel/"
	assert.Equal(t, strings.Join([]string{
		prefix + "net/core/failover.ko",
		prefix + "drivers/net/net_failover.ko",
		prefix + "drivers/virtio/virtio_ring.ko",
		prefix + "drivers/virtio/virtio.ko",
		prefix + "drivers/net/virtio_net.ko",
		prefix + "drivers/char/hw_random/virtio-rng.ko",
	}, "\n")+"\n", files["etc/modules.order"].Data, "dependencies first, each once; built-in rng-core skipped")

	for _, line := range strings.Fields(files["etc/modules.order"].Data) {
		assert.Contains(t, files, strings.TrimPrefix(line, "/"), "listed module is in the image")
	}

	assert.Equal(t, "init", order[0], "/init first")
	requireParentsFirst(t, files, order)
}

// withNode adds the node payload but for packages: the four binaries and the iptables links.
func withNode(t *testing.T, opts Options) Options {
	t.Helper()

	dir := t.TempDir()
	write := func(name, data string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(data), 0o755))

		return p
	}

	opts.ControllerManagerPath = write("kube-controller-manager", "controller-manager binary")
	opts.SchedulerPath = write("kube-scheduler", "scheduler binary")
	opts.KubeletPath = write("kubelet", "kubelet binary")
	opts.KubeProxyPath = write("kube-proxy", "kube-proxy binary")
	opts.Links = maps.Clone(realnode.IptablesNFTLinks)

	return opts
}

func TestBuildIsCached(t *testing.T) {
	opts := withNode(t, fakeHost(t))

	_, first, err := Build(t.Context(), opts)
	require.NoError(t, err)

	info, err := os.Stat(first)
	require.NoError(t, err)

	rec := &progress.Recorder{}
	opts.Reporter = rec

	_, second, err := Build(t.Context(), opts)
	require.NoError(t, err)
	assert.Equal(t, first, second)
	require.Len(t, rec.Records(), 1)
	assert.Equal(t, progress.Skipped, rec.Records()[0].Outcome)

	again, err := os.Stat(second)
	require.NoError(t, err)
	assert.Equal(t, info.ModTime(), again.ModTime(), "a cached image is not rewritten")

	built := map[string]bool{first: true}
	changes := map[string]func(){
		"etcd":    func() { require.NoError(t, os.WriteFile(opts.EtcdPath, []byte("another etcd"), 0o755)) },
		"kubelet": func() { require.NoError(t, os.WriteFile(opts.KubeletPath, []byte("another kubelet"), 0o755)) },
		"link target": func() {
			opts.Links["/usr/sbin/iptables"] = "iptables-legacy"
		},
		"another link": func() { opts.Links["/usr/sbin/arptables"] = "arptables-nft" },
	}

	for _, what := range []string{"etcd", "kubelet", "link target", "another link"} {
		changes[what]()

		_, next, err := Build(t.Context(), opts)
		require.NoError(t, err)
		assert.False(t, built[next], "a changed %s is a new image", what)
		built[next] = true
		assert.FileExists(t, next)
	}

	dirs, err := os.ReadDir(opts.CacheDir)
	require.NoError(t, err)
	assert.Len(t, dirs, keepImages, "five images built: the cache keeps the %d most recent", keepImages)
	assert.NoFileExists(t, first, "the least recently used image is pruned")
}

func TestBuildTakesTheNodeBinariesAllOrNone(t *testing.T) {
	opts := withNode(t, fakeHost(t))
	opts.SchedulerPath = ""

	_, _, err := Build(t.Context(), opts)
	require.ErrorContains(t, err, "set all four of ControllerManagerPath, SchedulerPath, KubeletPath and KubeProxyPath")

	opts = fakeHost(t)

	_, initrd, err := Build(t.Context(), opts)
	require.NoError(t, err)

	files, _ := readInitramfs(t, initrd)
	assert.NotContains(t, files, strings.TrimPrefix(GuestKubelet, "/"), "no node payload: etcd and kube-apiserver only")
	assert.Contains(t, files, "usr/bin/kube-apiserver")

	opts.Links = map[string]string{"usr/sbin/iptables": "iptables-nft"}

	_, _, err = Build(t.Context(), opts)
	require.ErrorContains(t, err, "a link needs an absolute path and a target")
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
