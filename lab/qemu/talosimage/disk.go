package talosimage

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/cozylab/cozylab/internal/atomicfile"
	"io"
	"os"
)

// Disk sizes of a lab node, as upstream's lab gives its nodes: Talos grows its system
// partitions to fill the system disk; the data disk is for the platform's storage.
const (
	SystemDiskSize = 20 << 30
	DataDiskSize   = 100 << 30
)

// copyChunk is how much of the image is read at a time; a chunk of zeros is skipped, leaving a
// hole, so a copy costs only the image's data.
const copyChunk = 64 << 10

// SystemDisk writes a node's system disk at path: a sparse copy of the raw image grown to size
// bytes. It is written to a temporary file and renamed, so path is either whole or absent.
func SystemDisk(image, path string, size int64) error {
	src, err := os.Open(image)
	if err != nil {
		return fmt.Errorf("open Talos image: %w", err)
	}
	defer src.Close()
	info, err := src.Stat()
	if err != nil {
		return fmt.Errorf("stat Talos image: %w", err)
	}
	if info.Size() > size {
		return fmt.Errorf("create system disk %s: the image is %d bytes, larger than the disk's %d", path, info.Size(), size)
	}
	return writeDisk(path, size, func(dst *os.File) error {
		if err := sparseCopy(dst, src); err != nil {
			return fmt.Errorf("copy %s: %w", image, err)
		}
		return nil
	})
}

// DataDisk writes an empty sparse disk of size bytes at path.
func DataDisk(path string, size int64) error {
	return writeDisk(path, size, func(*os.File) error { return nil })
}

// writeDisk lets fill write a new disk, sets its size, and puts it at path atomically.
func writeDisk(path string, size int64, fill func(*os.File) error) error {
	err := atomicfile.Write(path, 0o600, func(f *os.File) error {
		if err := fill(f); err != nil {
			return err
		}
		return f.Truncate(size)
	})
	if err != nil {
		return fmt.Errorf("create disk %s: %w", path, err)
	}
	return nil
}

// sparseCopy copies src to dst, seeking over chunks of zeros instead of writing them. The
// caller sets the final size (a trailing hole needs a Truncate).
func sparseCopy(dst io.WriteSeeker, src io.Reader) error {
	buf := make([]byte, copyChunk)
	zero := make([]byte, copyChunk)
	for {
		n, err := io.ReadFull(src, buf)
		if n > 0 {
			if bytes.Equal(buf[:n], zero[:n]) {
				if _, serr := dst.Seek(int64(n), io.SeekCurrent); serr != nil {
					return serr
				}
			} else if _, werr := dst.Write(buf[:n]); werr != nil {
				return werr
			}
		}
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil
		}
		if err != nil {
			return err
		}
	}
}
