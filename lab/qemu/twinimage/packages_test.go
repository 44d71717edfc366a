package twinimage

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/cavaliergopher/cpio"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// debMember is one entry of a package's data archive.
type debMember struct {
	Name string
	Type byte
	Mode int64
	Data string // a file's content, a link's target
}

// writeDeb writes a .deb as dpkg-deb would lay it out (ar: debian-binary, control, data.tar.gz)
// with the given data archive, and returns it as fetchDebs would.
func writeDeb(t *testing.T, dir, file string, members []debMember) debFile {
	t.Helper()

	var data bytes.Buffer

	gz := gzip.NewWriter(&data)
	tw := tar.NewWriter(gz)

	for _, m := range members {
		h := &tar.Header{Name: m.Name, Typeflag: m.Type, Mode: m.Mode, Uname: "root", Gname: "root"}

		switch m.Type {
		case tar.TypeReg:
			h.Size = int64(len(m.Data))
		case tar.TypeSymlink, tar.TypeLink:
			h.Linkname = m.Data
		}

		require.NoError(t, tw.WriteHeader(h))

		if m.Type == tar.TypeReg {
			_, err := tw.Write([]byte(m.Data))
			require.NoError(t, err)
		}
	}

	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())

	var deb bytes.Buffer

	deb.WriteString("!<arch>\n")

	for _, member := range []struct {
		name string
		body []byte
	}{{"debian-binary", []byte("2.0\n")}, {"control.tar.gz", nil}, {"data.tar.gz", data.Bytes()}} {
		fmt.Fprintf(&deb, "%-16s%-12d%-6d%-6d%-8s%-10d`\n", member.name, 0, 0, 0, "100644", len(member.body))
		deb.Write(member.body)

		if len(member.body)%2 == 1 {
			deb.WriteByte('\n')
		}
	}

	p := filepath.Join(dir, file)
	require.NoError(t, os.WriteFile(p, deb.Bytes(), 0o644))

	sum := sha256.Sum256(deb.Bytes())

	return debFile{Path: p, SHA256: hex.EncodeToString(sum[:])}
}

// fakeDebs are two packages shaped like containerd's and containernetworking-plugins'.
func fakeDebs(t *testing.T) []debFile {
	t.Helper()

	dir := t.TempDir()

	return []debFile{
		writeDeb(t, dir, "containerd_1.6_amd64.deb", []debMember{
			{Name: "./", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./etc/containerd/", Type: tar.TypeDir, Mode: 0o755},
			{Name: "./etc/containerd/config.toml", Type: tar.TypeReg, Mode: 0o644, Data: "version = 2\n"},
			{Name: "./usr/bin/containerd", Type: tar.TypeReg, Mode: 0o755, Data: "containerd"},
			{Name: "./usr/bin/containerd-shim-runc-v2", Type: tar.TypeReg, Mode: 0o755, Data: "shim v2"},
			{Name: "./usr/bin/containerd-shim-runc-v1", Type: tar.TypeReg, Mode: 0o755, Data: "shim v1"},
			{Name: "./usr/bin/ctr", Type: tar.TypeReg, Mode: 0o755, Data: "ctr"},
			{Name: "./usr/share/doc/containerd/copyright", Type: tar.TypeReg, Mode: 0o644, Data: "Apache-2.0"},
			{Name: "./usr/share/man/man8/containerd.8.gz", Type: tar.TypeReg, Mode: 0o644, Data: "man"},
			{Name: "./lib/systemd/system/containerd.service", Type: tar.TypeReg, Mode: 0o644, Data: "[Unit]"},
			{Name: "./var/lib/containerd/", Type: tar.TypeDir, Mode: 0o711},
			{Name: "./usr/sbin/iptables", Type: tar.TypeReg, Mode: 0o755, Data: "a package's iptables"},
		}),
		writeDeb(t, dir, "containernetworking-plugins_1.1_amd64.deb", []debMember{
			{Name: "./usr/lib/cni/bridge", Type: tar.TypeReg, Mode: 0o755, Data: "bridge plugin"},
			{Name: "./usr/lib/cni/host-local", Type: tar.TypeReg, Mode: 0o755, Data: "host-local plugin"},
			{Name: "./usr/lib/cni/loopback", Type: tar.TypeReg, Mode: 0o755, Data: "loopback plugin"},
			{Name: "./usr/lib/cni/portmap", Type: tar.TypeReg, Mode: 0o755, Data: "portmap plugin"},
			{Name: "./usr/lib/cni/flannel", Type: tar.TypeReg, Mode: 0o755, Data: "flannel plugin"},
			{Name: "./usr/lib/cni/macvlan", Type: tar.TypeReg, Mode: 0o755, Data: "macvlan plugin"},
			{Name: "./usr/lib/x86_64-linux-gnu/libfoo.so.1.2", Type: tar.TypeReg, Mode: 0o644, Data: "libfoo"},
			{Name: "./usr/lib/x86_64-linux-gnu/libfoo.so.1", Type: tar.TypeSymlink, Data: "libfoo.so.1.2"},
			{Name: "./usr/lib/x86_64-linux-gnu/libfoo-hard.so", Type: tar.TypeLink, Data: "./usr/lib/x86_64-linux-gnu/libfoo.so.1.2"},
			{Name: "./usr/bin/setuid-tool", Type: tar.TypeReg, Mode: 0o4755, Data: "setuid"},
			{Name: "./usr/share/locale/de/LC_MESSAGES/cni.mo", Type: tar.TypeReg, Mode: 0o644, Data: "Übersetzung"},
		}),
	}
}

func TestPackagesGoIntoTheArchive(t *testing.T) {
	l := layout{
		entries: []entry{{Name: "/usr/sbin/iptables", Mode: os.ModeSymlink | 0o777, Link: "iptables-nft"}},
		debs:    fakeDebs(t),
	}

	out := filepath.Join(t.TempDir(), initrdName)
	f, err := os.Create(out)
	require.NoError(t, err)
	require.NoError(t, writeInitramfs(f, l))
	require.NoError(t, f.Close())

	files, order := readInitramfs(t, out)
	requireParentsFirst(t, files, order)

	assert.Equal(t, archived{Mode: typeReg | 0o755, Data: "containerd"}, files["usr/bin/containerd"])
	assert.Equal(t, archived{Mode: typeReg | 0o755, Data: "shim v2"}, files["usr/bin/containerd-shim-runc-v2"])
	assert.Equal(t, archived{Mode: typeReg | 0o644, Data: "version = 2\n"}, files["etc/containerd/config.toml"])
	assert.Equal(t, archived{Mode: typeDir | 0o711, Data: ""}, files["var/lib/containerd"], "a package's directory keeps its mode")
	assert.Equal(t, archived{Mode: typeReg | cpio.ModeSetuid | 0o755, Data: "setuid"}, files["usr/bin/setuid-tool"])
	assert.Equal(t, archived{Mode: typeSymlink | 0o777, Data: "libfoo.so.1.2"}, files["usr/lib/x86_64-linux-gnu/libfoo.so.1"])
	assert.Equal(t, archived{Mode: typeSymlink | 0o777, Data: "/usr/lib/x86_64-linux-gnu/libfoo.so.1.2"},
		files["usr/lib/x86_64-linux-gnu/libfoo-hard.so"], "a hard link becomes a symbolic link to its target")
	assert.Equal(t, archived{Mode: typeSymlink | 0o777, Data: "iptables-nft"}, files["usr/sbin/iptables"],
		"the image's link wins over a package's file")

	for _, plugin := range []string{"bridge", "host-local", "loopback", "portmap"} {
		assert.Equal(t, plugin+" plugin", files["usr/lib/cni/"+plugin].Data)
	}

	for _, dropped := range []string{
		"usr/lib/cni/flannel", "usr/lib/cni/macvlan", "usr/bin/ctr", "usr/bin/containerd-shim-runc-v1",
		"usr/share/doc", "usr/share/doc/containerd/copyright", "usr/share/man/man8/containerd.8.gz",
		"usr/share/locale/de/LC_MESSAGES/cni.mo", "lib/systemd/system/containerd.service",
	} {
		assert.NotContains(t, files, dropped)
	}

	assert.NotContains(t, files, "", "the package root is not an entry")
}

func TestArchiveRefusesAFileUnderALink(t *testing.T) {
	l := layout{entries: []entry{
		{Name: "/lib64", Mode: os.ModeSymlink | 0o777, Link: "lib"},
		{Name: "/lib64/ld-linux-x86-64.so.2", Mode: 0o755, Data: []byte("loader")},
	}}

	err := writeInitramfs(&bytes.Buffer{}, l)
	require.ErrorContains(t, err, "write /lib64/ld-linux-x86-64.so.2: /lib64 is a symbolic link in the image, not a directory")
}

func TestKeepPackageFile(t *testing.T) {
	for name, keep := range map[string]bool{
		"/usr/bin/containerd":                             true,
		"/usr/bin/containerd-shim-runc-v2":                true,
		"/usr/bin/containerd-shim":                        false,
		"/usr/bin/containerd-shim-runc-v1":                false,
		"/usr/bin/ctr":                                    false,
		"/usr/sbin/runc":                                  true,
		"/usr/lib/cni":                                    true,
		"/usr/lib/cni/bridge":                             true,
		"/usr/lib/cni/portmap":                            true,
		"/usr/lib/cni/vlan":                               false,
		"/usr/share/doc":                                  false,
		"/usr/share/doc/libc6/copyright":                  false,
		"/usr/share/documentation":                        true,
		"/usr/share/man/man8/nft.8.gz":                    false,
		"/usr/share/lintian/overrides/runc":               false,
		"/usr/lib/x86_64-linux-gnu/gconv/IBM1390.so":      false,
		"/usr/lib/x86_64-linux-gnu/libc.so.6":             true,
		"/usr/lib/x86_64-linux-gnu/xtables/libxt_mark.so": true,
		"/lib64/ld-linux-x86-64.so.2":                     true,
		"/etc/nftables.conf":                              true,
		"/lib/systemd/system/nftables.service":            false,
	} {
		assert.Equal(t, keep, keepPackageFile(name), name)
	}
}

func TestDigestNamesEveryInput(t *testing.T) {
	debs := fakeDebs(t)
	base := func() layout {
		return layout{
			entries: []entry{
				{Name: "/init", Mode: 0o755, Data: []byte("agent")},
				{Name: "/usr/sbin/iptables", Mode: os.ModeSymlink | 0o777, Link: "iptables-nft"},
			},
			debs: append([]debFile(nil), debs...),
		}
	}

	sum := func(l layout) string {
		s, err := digest(l)
		require.NoError(t, err)

		return s
	}

	first := sum(base())
	assert.Equal(t, first, sum(base()), "the same inputs, the same digest")

	for what, change := range map[string]func(*layout){
		"a link's target": func(l *layout) { l.entries[1].Link = "iptables-legacy" },
		"a link's path":   func(l *layout) { l.entries[1].Name = "/usr/sbin/ip6tables" },
		"a package":       func(l *layout) { l.debs[1].SHA256 = "0000" },
		"one package less": func(l *layout) {
			l.debs = l.debs[:1]
		},
		"a file's mode":    func(l *layout) { l.entries[0].Mode = 0o700 },
		"a file's content": func(l *layout) { l.entries[0].Data = []byte("another agent") },
	} {
		l := base()
		change(&l)
		assert.NotEqual(t, first, sum(l), "%s changes the digest", what)
	}
}
