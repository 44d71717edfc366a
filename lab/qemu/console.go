package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// consoleBacklog is how much of the log Console shows before following it.
const consoleBacklog = 16 << 10

// consoleInterval is how often Console looks for new output.
const consoleInterval = 200 * time.Millisecond

// Console copies node's serial log to w, starting with its last few kilobytes, and follows it
// as it grows (like tail -f) until ctx ends, which is how it normally returns (nil). A log that
// does not exist yet (the VM has not started) is waited for.
func (p *Provider) Console(ctx context.Context, node string, w io.Writer) error {
	names := NodeNames(NodeCount)
	if !slices.Contains(names, node) {
		return fmt.Errorf("lab:console %q: no such node; use one of %s", node, strings.Join(names, ", "))
	}
	path := NodePaths(p.Dir(), node).Serial
	if _, err := os.Stat(p.Dir()); err != nil {
		return fmt.Errorf("lab %s does not exist (%v): run `go run mage.go lab:up`", p.Request.Name, err)
	}
	tick := time.NewTicker(consoleInterval)
	defer tick.Stop()
	var offset int64 = -1 // -1: not opened yet, start with the backlog
	for {
		next, err := copyNew(path, offset, w)
		if err != nil {
			return err
		}
		offset = next
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// copyNew copies what path holds past offset to w and returns the new offset. offset -1 starts
// at the backlog; a file that shrank (a new log) is read from its start.
func copyNew(path string, offset int64, w io.Writer) (int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return offset, nil
	} else if err != nil {
		return offset, fmt.Errorf("read serial log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return offset, fmt.Errorf("read serial log: %w", err)
	}
	switch {
	case offset < 0:
		offset = max(0, fi.Size()-consoleBacklog)
	case fi.Size() < offset:
		offset = 0
	}
	if _, err := f.Seek(offset, io.SeekStart); err != nil {
		return offset, fmt.Errorf("read serial log: %w", err)
	}
	n, err := io.Copy(w, f)
	if err != nil {
		return offset + n, fmt.Errorf("show serial log: %w", err)
	}
	return offset + n, nil
}
