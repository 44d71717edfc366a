package twinimage

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// entry is one file, symbolic link or directory of the initramfs. A regular file's content
// comes from Source on disk or from Data; a link's target is Link.
type entry struct {
	Name   string      // absolute path inside the image
	Mode   os.FileMode // permission bits, with os.ModeDir or os.ModeSymlink for those types
	Source string
	Data   []byte
	Link   string
}

// writeInitramfs writes the layout as an uncompressed cpio (newc) archive: the entries, then
// the packages' files. It is written uncompressed on purpose: the guest runs under TCG, where
// gunzip of several hundred MB costs tens of seconds, while QEMU loads a plain archive as is
// and the kernel unpacks newc without a decompressor. Content is streamed from disk and from
// one package's data archive at a time; the image is never held in memory.
func writeInitramfs(w io.Writer, l layout) error {
	bw := bufio.NewWriterSize(w, 1<<20)
	a := newArchive(bw)

	for _, e := range l.entries {
		if err := a.addEntry(e); err != nil {
			return err
		}
	}

	for _, d := range l.debs {
		if err := a.addDeb(d); err != nil {
			return err
		}
	}

	if err := a.cw.Close(); err != nil {
		return fmt.Errorf("close cpio: %w", err)
	}

	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write initramfs: %w", err)
	}

	return nil
}

// archive writes cpio entries one by one. The kernel unpacks in order, so each missing parent
// directory is written first (mode 0755); a path is written once, and the first entry of a
// name wins, which lets the image's own files and links replace a package's.
type archive struct {
	cw      *cpio.Writer
	written map[string]os.FileMode // the type bits of every path written, without the leading /
}

func newArchive(w io.Writer) *archive {
	return &archive{cw: cpio.NewWriter(w), written: map[string]os.FileMode{}}
}

// addEntry writes e, reading a regular file's content from e.Source or e.Data.
func (a *archive) addEntry(e entry) error {
	if e.Mode.Type() != 0 || e.Source == "" {
		return a.add(e, int64(len(e.Data)), bytes.NewReader(e.Data))
	}

	f, err := os.Open(e.Source)
	if err != nil {
		return fmt.Errorf("read %s for %s: %w", e.Source, e.Name, err)
	}
	defer f.Close()

	info, err := f.Stat()
	if err != nil {
		return fmt.Errorf("read %s for %s: %w", e.Source, e.Name, err)
	}

	return a.add(e, info.Size(), f)
}

// add writes e with a regular file's size bytes of content from r; a symbolic link's content
// is its target, as newc stores it. A name already written is skipped.
func (a *archive) add(e entry, size int64, r io.Reader) error {
	name := strings.TrimPrefix(path.Clean("/"+e.Name), "/")
	if name == "" {
		return nil
	}

	if _, done := a.written[name]; done {
		return nil
	}

	if err := a.parents(name); err != nil {
		return err
	}

	hdr := &cpio.Header{Name: name, Mode: cpioMode(e.Mode)}

	switch e.Mode.Type() {
	case os.ModeDir:
	case os.ModeSymlink:
		if e.Link == "" {
			return fmt.Errorf("write link %s: no target", e.Name)
		}

		hdr.Size, r = int64(len(e.Link)), strings.NewReader(e.Link)
	case 0:
		hdr.Size = size
	default:
		return fmt.Errorf("write %s: the initramfs holds only files, links and directories, not %s", e.Name, e.Mode.Type())
	}

	if err := a.cw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write header of %s: %w", e.Name, err)
	}

	if hdr.Size > 0 {
		if n, err := io.CopyN(a.cw, r, hdr.Size); err != nil {
			return fmt.Errorf("write %s (%d of %d bytes): %w", e.Name, n, hdr.Size, err)
		}
	}

	a.written[name] = e.Mode.Type()

	return nil
}

// parents writes each directory above name that is not in the archive yet, outermost first.
func (a *archive) parents(name string) error {
	var missing []string

	for d := path.Dir(name); d != "." && d != "/"; d = path.Dir(d) {
		typ, done := a.written[d]
		if !done {
			missing = append(missing, d)

			continue
		}

		if typ != os.ModeDir {
			return fmt.Errorf("write /%s: /%s is a %s in the image, not a directory", name, d, typeName(typ))
		}

		break
	}

	for i := len(missing) - 1; i >= 0; i-- {
		if err := a.cw.WriteHeader(&cpio.Header{Name: missing[i], Mode: cpio.TypeDir | 0o755}); err != nil {
			return fmt.Errorf("write directory /%s: %w", missing[i], err)
		}

		a.written[missing[i]] = os.ModeDir
	}

	return nil
}

func typeName(typ os.FileMode) string {
	if typ == os.ModeSymlink {
		return "symbolic link"
	}

	return "file"
}

// cpioMode is m as newc stores it: the type, permission, setuid, setgid and sticky bits.
func cpioMode(m os.FileMode) cpio.FileMode {
	c := cpio.FileMode(m.Perm())

	switch m.Type() {
	case os.ModeDir:
		c |= cpio.TypeDir
	case os.ModeSymlink:
		c |= cpio.TypeSymlink
	default:
		c |= cpio.TypeReg
	}

	for _, b := range []struct {
		os   os.FileMode
		cpio cpio.FileMode
	}{{os.ModeSetuid, cpio.ModeSetuid}, {os.ModeSetgid, cpio.ModeSetgid}, {os.ModeSticky, cpio.ModeSticky}} {
		if m&b.os != 0 {
			c |= b.cpio
		}
	}

	return c
}
