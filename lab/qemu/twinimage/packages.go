package twinimage

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/cozylab/cozylab/internal/debian"
)

// debFile is a fetched .deb and its SHA-256 as apt's signed index gives it; the image's digest
// takes the SHA-256 instead of re-reading what the package holds.
type debFile struct {
	Path, SHA256 string
}

// fetchDebs fetches o.Packages and everything they depend on into o.Debs (checked against
// apt's SHA-256; a cached .deb is not fetched again), sorted by file name.
func (o Options) fetchDebs(ctx context.Context) ([]debFile, error) {
	if len(o.Packages) == 0 {
		return nil, nil
	}

	step := o.Reporter.Begin("Fetching the twin's Debian packages")

	names, err := debian.Closure(ctx, o.Packages...)
	if err != nil {
		return nil, step.Done(err)
	}

	debs, err := debian.Resolve(ctx, names...)
	if err != nil {
		return nil, step.Done(err)
	}

	slices.SortFunc(debs, func(a, b debian.Deb) int { return strings.Compare(a.File, b.File) })

	out := make([]debFile, 0, len(debs))

	for i, d := range debs {
		step.Status("%d/%d (%s)", i+1, len(debs), d.File)

		p, err := debian.Fetch(ctx, o.Debs, d)
		if err != nil {
			return nil, step.Done(err)
		}

		out = append(out, debFile{Path: p, SHA256: d.SHA256})
	}

	step.Status("%d packages for %s", len(out), strings.Join(o.Packages, " "))

	return out, step.Done(nil)
}

// cniPlugins are the CNI plugins the guest keeps: the twin's pod network is a bridge per node
// (bridge, host-local addresses, loopback, portmap for hostPorts) with routes to the other
// nodes' pod ranges through their host addresses, so no overlay or other plugin is ever run.
var cniPlugins = []string{"bridge", "host-local", "loopback", "portmap"}

// droppedPaths are package paths a guest never reads: documentation, manuals, translations,
// lintian overrides, reportbug hooks and shell completions; systemd units and init scripts (the
// agent is init); glibc's iconv charset modules (nothing in the node converts charsets); and
// what containerd's package carries beyond what the node runs — the ctr client (the guest has
// no shell) and the v1 shims (the CRI runs containerd-shim-runc-v2).
var droppedPaths = []string{
	"/usr/share/doc", "/usr/share/man", "/usr/share/info", "/usr/share/locale", "/usr/share/lintian",
	"/usr/share/bug", "/usr/share/bash-completion", "/usr/share/zsh",
	"/lib/systemd", "/usr/lib/systemd", "/etc/init.d",
	"/usr/lib/x86_64-linux-gnu/gconv",
	"/usr/bin/ctr", "/usr/bin/containerd-shim", "/usr/bin/containerd-shim-runc-v1",
}

// keepPackageFile says whether a package's path (absolute, clean) goes into the image.
func keepPackageFile(name string) bool {
	for _, d := range droppedPaths {
		if name == d || strings.HasPrefix(name, d+"/") {
			return false
		}
	}

	if dir, plugin := path.Split(name); dir == "/usr/lib/cni/" {
		return slices.Contains(cniPlugins, plugin)
	}

	return true
}

// addDeb writes the files, links and directories of a package's data archive that
// keepPackageFile keeps, with their modes, owned by root. A hard link becomes a symbolic link
// to its target's absolute path: the same file to every program, without newc's inode
// bookkeeping.
func (a *archive) addDeb(d debFile) error {
	data, err := debian.DataTar(d.Path)
	if err != nil {
		return fmt.Errorf("read package %s: %w", path.Base(d.Path), err)
	}

	tr := tar.NewReader(bytes.NewReader(data))

	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}

		if err != nil {
			return fmt.Errorf("read package %s: %w", path.Base(d.Path), err)
		}

		name := path.Clean("/" + strings.TrimPrefix(h.Name, "./"))
		if name == "/" || !keepPackageFile(name) {
			continue
		}

		e := entry{Name: name, Mode: tarMode(h.Mode)}

		switch h.Typeflag {
		case tar.TypeDir:
			e.Mode |= os.ModeDir
		case tar.TypeReg:
		case tar.TypeSymlink:
			e.Mode, e.Link = os.ModeSymlink|0o777, h.Linkname
		case tar.TypeLink:
			e.Mode, e.Link = os.ModeSymlink|0o777, path.Clean("/"+strings.TrimPrefix(h.Linkname, "./"))
		default:
			continue // devices and fifos: Debian's packages ship none that a node needs
		}

		if err := a.add(e, h.Size, tr); err != nil {
			return fmt.Errorf("package %s: %w", path.Base(d.Path), err)
		}
	}
}

// tarMode is a tar header's Unix mode as an os.FileMode: permissions, setuid, setgid, sticky.
func tarMode(m int64) os.FileMode {
	out := os.FileMode(m & 0o777)

	for _, b := range []struct {
		unix int64
		os   os.FileMode
	}{{0o4000, os.ModeSetuid}, {0o2000, os.ModeSetgid}, {0o1000, os.ModeSticky}} {
		if m&b.unix != 0 {
			out |= b.os
		}
	}

	return out
}
