package process

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"
)

// Identity names one process for good: a pid alone may be reused once the process is gone.
type Identity struct {
	Pid   int    `json:"pid"`
	Start uint64 `json:"start"`
}

// Identify returns the identity of the live process pid.
func Identify(pid int) (Identity, error) {
	st, err := startTime(pid)
	if err != nil {
		return Identity{}, fmt.Errorf("identify process %d: %w", pid, err)
	}
	return Identity{Pid: pid, Start: st}, nil
}

// Running reports whether the process still runs (same pid, same start, not a zombie).
func (id Identity) Running() bool {
	if id.Pid <= 0 {
		return false
	}
	st, err := startTime(id.Pid)
	return err == nil && st == id.Start && Alive(id.Pid)
}

// Terminate sends SIGTERM, waits up to grace for the process to end, then sends SIGKILL to it
// and its process group and waits for it to be gone. A process already gone is not an error.
func (id Identity) Terminate(ctx context.Context, grace time.Duration) error {
	if !id.Running() {
		return nil
	}
	if err := syscall.Kill(id.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop process %d: %w", id.Pid, err)
	}
	if id.waitGone(ctx, grace) {
		return nil
	}
	if err := killIfSame(id.Pid, id.Start); err != nil {
		return err
	}
	if !id.waitGone(ctx, 10*time.Second) {
		return fmt.Errorf("stop process %d: still running 10s after SIGKILL", id.Pid)
	}
	return nil
}

func (id Identity) waitGone(ctx context.Context, bound time.Duration) bool {
	deadline := time.NewTimer(bound)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for id.Running() {
		select {
		case <-ctx.Done():
			return false
		case <-deadline.C:
			return false
		case <-tick.C:
		}
	}
	return true
}
