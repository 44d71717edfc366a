// Package atomicfile writes files so that a reader — or a lab:up that resumes after a kill —
// sees the old content or the new, never a half-written file: the content goes to a temporary
// file in the same directory, which is renamed over the target once complete. A failure leaves
// the target as it was and removes the temporary file.
package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// Write fills a temporary file next to path with fill, gives it mode, and renames it over path.
// The directory must exist. fill gets the open file (it may seek or truncate it).
func Write(path string, mode fs.FileMode, fill func(f *os.File) error) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	err = fill(f)
	err = errors.Join(err, f.Chmod(mode), f.Close())
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		if rerr := os.Remove(f.Name()); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, fmt.Errorf("remove %s: %w", f.Name(), rerr))
		}
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteFile writes data to path with mode, atomically (Write).
func WriteFile(path string, data []byte, mode fs.FileMode) error {
	return Write(path, mode, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}
