package registry

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"io/fs"
	"time"
)

// epoch is the modification time of every archived entry, so an archive depends on content only.
var epoch = time.Unix(0, 0).UTC()

// Archived entry modes. Source modes are ignored: embed.FS reports 0444 for every file and a
// checkout's modes depend on the umask, and both must give the same digest.
const (
	dirMode  = 0o755
	fileMode = 0o644
)

// tarGzipFS returns a gzip tar of every directory and regular file in fsys, with relative
// paths ("core/flux/Chart.yaml"), in lexical order, owned by 0:0, at mode dirMode/fileMode and
// time epoch. The root itself is not an entry. Anything but a directory or a regular file
// (symlinks, devices) is an error: a Flux artifact cannot carry it faithfully.
func tarGzipFS(fsys fs.FS) ([]byte, error) {
	return tarGzip(func(tw *tar.Writer) error {
		return fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if p == "." {
				return nil
			}
			switch {
			case d.IsDir():
				return writeHeader(tw, p+"/", tar.TypeDir, dirMode, 0)
			case d.Type().IsRegular():
				data, err := fs.ReadFile(fsys, p)
				if err != nil {
					return err
				}
				return writeFile(tw, p, fileMode, data)
			default:
				return fmt.Errorf("archive %s: %s is not a directory or a regular file; remove it or replace it with a copy", p, d.Type())
			}
		})
	})
}

// tarGzip runs fill on a tar writer and returns the gzip-compressed archive. The gzip header
// carries no name and no time, so the output depends on the entries only.
func tarGzip(fill func(*tar.Writer) error) ([]byte, error) {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	if err := fill(tw); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar stream: %w", err)
	}
	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("close gzip stream: %w", err)
	}
	return buf.Bytes(), nil
}

func writeHeader(tw *tar.Writer, name string, typ byte, mode int64, size int64) error {
	h := &tar.Header{
		Typeflag: typ, Name: name, Mode: mode, Size: size, ModTime: epoch,
		Format: tar.FormatPAX,
	}
	if err := tw.WriteHeader(h); err != nil {
		return fmt.Errorf("write tar header %s: %w", name, err)
	}
	return nil
}

func writeFile(tw *tar.Writer, name string, mode int64, data []byte) error {
	if err := writeHeader(tw, name, tar.TypeReg, mode, int64(len(data))); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return fmt.Errorf("write tar entry %s: %w", name, err)
	}
	return nil
}

// gzipLayerOpener serves an in-memory gzip blob to tarball.LayerFromOpener, which uses
// compressed input as is and so keeps our deterministic bytes.
func gzipLayerOpener(data []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(data)), nil }
}
