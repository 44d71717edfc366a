package provider

import (
	"errors"
	"fmt"
	"io"
	"os"
)

// MaxLog bounds one copied log: the end of a log is what explains a failure.
const MaxLog = 8 << 20

// CopyLog copies the last MaxLog bytes of the log at from to the file to (0600); a log that
// does not exist (a process that never started) is skipped.
func CopyLog(from, to string) error {
	f, err := os.Open(from)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		return fmt.Errorf("collect %s: %w", from, err)
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > MaxLog {
		if _, err := f.Seek(-MaxLog, io.SeekEnd); err != nil {
			return fmt.Errorf("collect %s: %w", from, err)
		}
	}
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("collect %s: %w", from, err)
	}
	_, err = io.Copy(out, f)
	return errors.Join(err, out.Close())
}
