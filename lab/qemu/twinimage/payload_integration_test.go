//go:build integration

package twinimage

import (
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cavaliergopher/cpio"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/realnode"
)

// nodeOptions are the options of a twin that runs a whole control-plane node, as the lab
// builds it: every binary from the binaries cache, realnode's packages and links.
func nodeOptions(ctx context.Context, t *testing.T) Options {
	t.Helper()

	bins, err := (&bincache.Cache{}).Ensure(ctx, bincache.Etcd, bincache.KubeAPIServer, bincache.KubeControllerManager,
		bincache.KubeScheduler, bincache.Kubelet, bincache.KubeProxy)
	require.NoError(t, err, "the binaries cache must hold the control plane and node binaries (go run mage.go bins)")

	return Options{
		EtcdPath: bins[bincache.Etcd], APIServerPath: bins[bincache.KubeAPIServer],
		ControllerManagerPath: bins[bincache.KubeControllerManager], SchedulerPath: bins[bincache.KubeScheduler],
		KubeletPath: bins[bincache.Kubelet], KubeProxyPath: bins[bincache.KubeProxy],
		Packages: realnode.Packages(), Links: realnode.IptablesNFTLinks,
	}
}

// TestTwinImageCarriesTheNode builds the real image — the binaries cache, Debian's .debs, the
// host's kernel modules — and checks that the node's programs are where the agent runs them,
// that every dynamic program and library finds each library it needs inside the image, and
// that Debian's programs run from the unpacked image with nothing of the host's.
func TestTwinImageCarriesTheNode(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Minute)
	defer cancel()

	opts := nodeOptions(ctx, t)
	opts.CacheDir = t.TempDir()

	rec := &progress.Recorder{}
	opts.Reporter = rec

	start := time.Now()
	_, initrd, err := Build(ctx, opts)
	require.NoError(t, err)
	cold := time.Since(start)

	start = time.Now()
	_, again, err := Build(ctx, opts)
	require.NoError(t, err)
	warm := time.Since(start)
	assert.Equal(t, initrd, again)

	info, err := os.Stat(initrd)
	require.NoError(t, err)

	for _, r := range rec.Records() {
		t.Logf("%-40s %-8v %s", r.Title, r.Duration.Round(time.Millisecond), r.Note)
	}

	t.Logf("image %d MiB; first build %v, second %v", info.Size()>>20, cold.Round(time.Millisecond), warm.Round(time.Millisecond))

	last := rec.Records()[len(rec.Records())-1]
	assert.Equal(t, "Building the twin initramfs", last.Title)
	assert.Equal(t, progress.Skipped, last.Outcome, "the second build takes the cached image")

	img := readImage(t, initrd)

	for _, p := range []string{
		GuestInit, GuestEtcd, GuestAPIServer, GuestControllerManager, GuestScheduler, GuestKubelet, GuestKubeProxy,
		"/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/sbin/runc", "/usr/sbin/nft", "/usr/sbin/conntrack",
		"/usr/sbin/xtables-nft-multi", realnode.CNIBinDir + "/bridge", realnode.CNIBinDir + "/host-local",
		realnode.CNIBinDir + "/loopback", realnode.CNIBinDir + "/portmap", "/etc/passwd", GuestModules,
	} {
		e, ok := img.resolve(p)
		if assert.True(t, ok, "%s is in the image", p) {
			assert.Equal(t, typeReg, typeOf(e.mode), "%s is a file", p)
		}
	}

	for link, target := range realnode.IptablesNFTLinks {
		assert.Equal(t, target, img.entries[strings.TrimPrefix(link, "/")].link, link)
		_, ok := img.resolve(link)
		assert.True(t, ok, "%s leads to a file", link)
	}

	for _, p := range []string{"usr/share/doc", "usr/share/man", "usr/lib/cni/flannel", "usr/lib/cni/macvlan", "usr/bin/ctr", "bin/busybox"} {
		assert.NotContains(t, img.entries, p)
	}

	order := img.entries[strings.TrimPrefix(GuestModules, "/")]
	for _, m := range []string{"/overlay.ko", "/veth.ko", "/br_netfilter.ko", "/nf_tables.ko", "/nft_chain_nat.ko", "/xt_MASQUERADE.ko", "/crc32c_generic.ko"} {
		assert.Contains(t, string(order.data), m)
	}

	checked := 0

	for name, needs := range img.needed {
		for _, lib := range needs.libs {
			_, ok := img.library(lib, needs.runpath)
			assert.True(t, ok, "/%s needs %s: not in the image", name, lib)
		}

		if needs.interp != "" {
			_, ok := img.resolve(needs.interp)
			assert.True(t, ok, "/%s needs the loader %s: not in the image", name, needs.interp)
		}

		checked++
	}

	assert.Greater(t, checked, 30, "the packages' programs and libraries are dynamic ELF files")

	runFromImage(t, ctx, initrd)
}

// runFromImage unpacks the image and runs Debian's programs in it (chroot): the loader, the
// libraries and the iptables links are the image's own.
func runFromImage(t *testing.T, ctx context.Context, initrd string) {
	t.Helper()

	root := t.TempDir()
	unpack(t, initrd, root)

	for _, c := range []struct {
		argv []string
		want string
	}{
		{[]string{"/usr/sbin/iptables", "--version"}, "nf_tables"},
		{[]string{"/usr/sbin/ip6tables-restore", "--version"}, "nf_tables"},
		{[]string{"/usr/sbin/nft", "--version"}, "nftables"},
		{[]string{"/usr/sbin/conntrack", "--version"}, "conntrack"},
		{[]string{"/usr/sbin/runc", "--version"}, "runc version"},
		{[]string{"/usr/bin/containerd", "--version"}, "containerd"},
		{[]string{"/usr/bin/containerd-shim-runc-v2", "-v"}, "containerd-shim-runc-v2"},
		{[]string{GuestKubelet, "--version"}, "Kubernetes"},
	} {
		cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
		cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
		cmd.Dir, cmd.Env = "/", []string{"PATH=/usr/sbin:/usr/bin"}

		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%v in the unpacked image: %s", c.argv, out)
		assert.Contains(t, string(out), c.want, "%v", c.argv)
	}

	cni := exec.CommandContext(ctx, realnode.CNIBinDir+"/bridge")
	cni.SysProcAttr = &syscall.SysProcAttr{Chroot: root}
	cni.Dir, cni.Env = "/", []string{"CNI_COMMAND=VERSION"}
	cni.Stdin = strings.NewReader(`{"cniVersion":"1.0.0"}`)
	out, err := cni.CombinedOutput()
	require.NoError(t, err, "the bridge plugin in the unpacked image: %s", out)
	assert.Contains(t, string(out), "supportedVersions")
}

// imageEntry is one entry of the image as the checks need it.
type imageEntry struct {
	mode cpio.FileMode
	link string
	data []byte // kept for small text files only
}

// dynamicELF is what a dynamic ELF file asks of the loader.
type dynamicELF struct {
	libs, runpath []string
	interp        string
}

type image struct {
	entries map[string]imageEntry // by name without the leading /
	needed  map[string]dynamicELF
}

// readImage reads the archive once, keeping each entry's type and link, small files' content,
// and what each dynamic ELF file needs.
func readImage(t *testing.T, initrd string) image {
	t.Helper()

	f, err := os.Open(initrd)
	require.NoError(t, err)
	defer f.Close()

	img := image{entries: map[string]imageEntry{}, needed: map[string]dynamicELF{}}
	r := cpio.NewReader(f)

	for {
		hdr, err := r.Next()
		if errors.Is(err, io.EOF) {
			return img
		}

		require.NoError(t, err)

		e := imageEntry{mode: hdr.Mode, link: hdr.Linkname}

		if typeOf(hdr.Mode) == typeReg {
			data, err := io.ReadAll(r)
			require.NoError(t, err)

			if len(data) < 64<<10 {
				e.data = data
			}

			if d, ok := dynamicNeeds(t, hdr.Name, data); ok {
				img.needed[hdr.Name] = d
			}
		}

		img.entries[hdr.Name] = e
	}
}

// dynamicNeeds reads a program's or library's DT_NEEDED, DT_RUNPATH and interpreter; ok is
// false for what is not a dynamic ELF file (static Go programs, kernel modules, text).
func dynamicNeeds(t *testing.T, name string, data []byte) (dynamicELF, bool) {
	if !bytes.HasPrefix(data, []byte(elf.ELFMAG)) {
		return dynamicELF{}, false
	}

	f, err := elf.NewFile(bytes.NewReader(data))
	require.NoError(t, err, "/%s", name)

	if f.Type != elf.ET_EXEC && f.Type != elf.ET_DYN {
		return dynamicELF{}, false
	}

	var d dynamicELF

	d.libs, err = f.ImportedLibraries()
	require.NoError(t, err, "/%s", name)

	for _, tag := range []elf.DynTag{elf.DT_RUNPATH, elf.DT_RPATH} {
		paths, err := f.DynString(tag)
		require.NoError(t, err, "/%s", name)

		for _, p := range paths {
			for _, dir := range strings.Split(p, ":") {
				d.runpath = append(d.runpath, strings.ReplaceAll(dir, "$ORIGIN", "/"+path.Dir(name)))
			}
		}
	}

	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			b, err := io.ReadAll(p.Open())
			require.NoError(t, err, "/%s", name)
			d.interp = strings.TrimRight(string(b), "\x00")
		}
	}

	return d, len(d.libs) > 0 || d.interp != ""
}

// library finds a needed library as the loader would: the runpath, then the multiarch and
// 64-bit directories.
func (img image) library(lib string, runpath []string) (imageEntry, bool) {
	for _, dir := range append(runpath, "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/lib64") {
		if e, ok := img.resolve(path.Join(dir, lib)); ok {
			return e, true
		}
	}

	return imageEntry{}, false
}

// resolve follows symbolic links (relative to their directory, or absolute) to a regular file.
func (img image) resolve(p string) (imageEntry, bool) {
	for range 40 {
		e, ok := img.entries[strings.TrimPrefix(path.Clean(p), "/")]
		if !ok {
			return imageEntry{}, false
		}

		if typeOf(e.mode) != typeSymlink {
			return e, typeOf(e.mode) == typeReg
		}

		if strings.HasPrefix(e.link, "/") {
			p = e.link
		} else {
			p = path.Join(path.Dir(path.Clean(p)), e.link)
		}
	}

	return imageEntry{}, false
}

// unpack writes the archive's directories, files and links under root.
func unpack(t *testing.T, initrd, root string) {
	t.Helper()

	f, err := os.Open(initrd)
	require.NoError(t, err)
	defer f.Close()

	r := cpio.NewReader(f)

	for {
		hdr, err := r.Next()
		if errors.Is(err, io.EOF) {
			return
		}

		require.NoError(t, err)

		dst := filepath.Join(root, hdr.Name)

		switch typeOf(hdr.Mode) {
		case typeDir:
			require.NoError(t, os.MkdirAll(dst, 0o755))
		case typeSymlink:
			require.NoError(t, os.Symlink(hdr.Linkname, dst))
		case typeReg:
			out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, os.FileMode(hdr.Mode.Perm()))
			require.NoError(t, err)
			_, err = io.Copy(out, r)
			require.NoError(t, errors.Join(err, out.Close()))
		}
	}
}
