package sourcewatcher

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// File is one regular file of a Tree.
type File struct {
	// Data is the file content.
	Data []byte
	// Executable keeps the executable bit through copies; every other mode bit is normalised.
	Executable bool
}

// Tree is a set of regular files by clean slash path; directories are implicit. Source artifacts
// are untarred into a Tree and output artifacts are assembled in one, so a build never touches
// the disk and cannot escape its root.
type Tree map[string]File

// maxSourceBytes bounds the uncompressed size of one source artifact.
const maxSourceBytes = 1 << 30

// epoch is the modification time of every entry of a built tarball, so equal content gives an
// equal digest. It matches the 1970 timestamps source-controller writes.
var epoch = time.Unix(0, 0).UTC()

// Untar reads a gzip-compressed tarball into a Tree. Entries are taken relative to the archive
// root ("./x" is "x"); an entry that climbs out of it is refused; symlinks and other special
// entries are skipped.
func Untar(r io.Reader) (Tree, error) {
	gz, err := gzip.NewReader(r)
	if err != nil {
		return nil, fmt.Errorf("read gzip: %w", err)
	}
	defer gz.Close()
	tr := tar.NewReader(gz)
	t := Tree{}
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return t, nil
		}
		if err != nil {
			return nil, fmt.Errorf("read tar: %w", err)
		}
		name, ok := cleanRelative(h.Name)
		if !ok {
			return nil, fmt.Errorf("read tar entry %q: path leaves the archive root", h.Name)
		}
		if h.Typeflag != tar.TypeReg || name == "" {
			continue
		}
		total += h.Size
		if total > maxSourceBytes {
			return nil, fmt.Errorf("read tar: content exceeds %d bytes", int64(maxSourceBytes))
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			return nil, fmt.Errorf("read tar entry %q: %w", h.Name, err)
		}
		t[name] = File{Data: data, Executable: h.Mode&0o111 != 0}
	}
}

// isDir reports whether p is a directory of t: some file lies below it.
func (t Tree) isDir(p string) bool {
	if p == "" {
		return len(t) > 0
	}
	for name := range t {
		if strings.HasPrefix(name, p+"/") {
			return true
		}
	}
	return false
}

// sortedNames returns the file paths of t in byte order.
func (t Tree) sortedNames() []string {
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Tarball builds the reproducible tar.gz of t: entries in byte order with their parent
// directories, fixed times, owner 0 and modes 0644/0755. Helm loads a chart only from an
// archive with one top-level directory; a tree whose files do not already share one is rooted
// at "./", which Helm and Flux accept too.
func Tarball(t Tree) ([]byte, error) {
	if len(t) == 0 {
		return nil, errors.New("build tarball: no files")
	}
	prefix := ""
	if !singleTopDir(t) {
		prefix = "./"
	}
	var buf bytes.Buffer
	gz, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		return nil, fmt.Errorf("build tarball: %w", err)
	}
	tw := tar.NewWriter(gz)
	written := map[string]bool{}
	if prefix != "" {
		written[""] = true
		if err := tw.WriteHeader(dirHeader(".")); err != nil {
			return nil, fmt.Errorf("build tarball: %w", err)
		}
	}
	for _, name := range t.sortedNames() {
		if err := writeParents(tw, written, prefix, name); err != nil {
			return nil, fmt.Errorf("build tarball: %w", err)
		}
		f := t[name]
		mode := int64(0o644)
		if f.Executable {
			mode = 0o755
		}
		h := &tar.Header{Typeflag: tar.TypeReg, Name: prefix + name, Size: int64(len(f.Data)), Mode: mode, ModTime: epoch}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("build tarball entry %s: %w", name, err)
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, fmt.Errorf("build tarball entry %s: %w", name, err)
		}
	}
	if err := errors.Join(tw.Close(), gz.Close()); err != nil {
		return nil, fmt.Errorf("build tarball: %w", err)
	}
	return buf.Bytes(), nil
}

// writeParents writes the directory entries above name not written yet, outermost first.
func writeParents(tw *tar.Writer, written map[string]bool, prefix, name string) error {
	segs := splitPath(name)
	for i := 1; i < len(segs); i++ {
		dir := strings.Join(segs[:i], "/")
		if written[dir] {
			continue
		}
		written[dir] = true
		if err := tw.WriteHeader(dirHeader(prefix + dir + "/")); err != nil {
			return err
		}
	}
	return nil
}

func dirHeader(name string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755, ModTime: epoch}
}

// singleTopDir reports whether every file of t lies below one and the same top-level directory.
func singleTopDir(t Tree) bool {
	top := ""
	for name := range t {
		first, _, nested := strings.Cut(name, "/")
		if !nested || (top != "" && first != top) {
			return false
		}
		top = first
	}
	return true
}
