package twinimage

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	"github.com/cavaliergopher/cpio"
)

// entry is one file of the initramfs: its content comes from Source on disk or from Data.
type entry struct {
	Name   string // absolute path inside the image
	Mode   os.FileMode
	Source string
	Data   []byte
}

// writeInitramfs writes entries as a gzip'd cpio (newc) archive, creating every parent
// directory first, as the kernel unpacks entries in order.
func writeInitramfs(w io.Writer, entries []entry) error {
	gz := gzip.NewWriter(w)
	cw := cpio.NewWriter(gz)

	for _, dir := range parentDirs(entries) {
		if err := cw.WriteHeader(&cpio.Header{Name: dir, Mode: cpio.TypeDir | 0o755}); err != nil {
			return fmt.Errorf("write directory %s: %w", dir, err)
		}
	}

	for _, e := range entries {
		if err := writeEntry(cw, e); err != nil {
			return err
		}
	}

	if err := cw.Close(); err != nil {
		return fmt.Errorf("close cpio: %w", err)
	}

	if err := gz.Close(); err != nil {
		return fmt.Errorf("close gzip: %w", err)
	}

	return nil
}

func writeEntry(cw *cpio.Writer, e entry) error {
	name := strings.TrimPrefix(e.Name, "/")
	data := e.Data

	if e.Source != "" {
		b, err := os.ReadFile(e.Source)
		if err != nil {
			return fmt.Errorf("read %s for %s: %w", e.Source, e.Name, err)
		}

		data = b
	}

	hdr := &cpio.Header{Name: name, Mode: cpio.TypeReg | cpio.FileMode(e.Mode.Perm()), Size: int64(len(data))}
	if err := cw.WriteHeader(hdr); err != nil {
		return fmt.Errorf("write header of %s: %w", e.Name, err)
	}

	if _, err := cw.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", e.Name, err)
	}

	return nil
}

// parentDirs lists every directory that holds an entry, parents first, without the root.
func parentDirs(entries []entry) []string {
	seen := map[string]bool{}

	var dirs []string

	for _, e := range entries {
		for d := path.Dir(strings.TrimPrefix(e.Name, "/")); d != "." && d != "/"; d = path.Dir(d) {
			if !seen[d] {
				seen[d] = true
				dirs = append(dirs, d)
			}
		}
	}

	// Sorting by depth, then name, puts each parent before its children.
	slices.SortFunc(dirs, func(a, b string) int {
		if da, db := strings.Count(a, "/"), strings.Count(b, "/"); da != db {
			return da - db
		}

		return strings.Compare(a, b)
	})

	return dirs
}
