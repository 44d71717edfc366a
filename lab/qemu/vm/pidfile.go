package vm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/process"
)

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat start times; 100 on every Linux the lab
// runs on.
const clockTicks = 100

// StopFromPidfile stops the QEMU that spec.Pidfile names when no Machine is at hand (down after
// the harness is gone): the same ladder as Machine.Stop (power button, quit, SIGKILL), polled
// through /proc. Before touching the process it checks that it is that QEMU: its executable is
// qemu-system-x86_64, its command line names this pidfile, and it started before the pidfile
// was written (so a reused pid is never hit). A missing pidfile or a pid that is not that QEMU
// means nothing runs; a stale pidfile is removed.
func StopFromPidfile(ctx context.Context, spec Spec, opts Options) error {
	opts = opts.withDefaults()
	pid, err := qemuFromPidfile(spec.Pidfile)
	if err != nil || pid == 0 {
		return err
	}
	step := opts.Progress.Begin(fmt.Sprintf("Stopping VM %s (pid %d)", spec.Name, pid))
	gone := condition.Condition{
		Name: fmt.Sprintf("QEMU %d of %s to exit", pid, spec.Name),
		Check: func(context.Context) error {
			if process.Alive(pid) {
				return errors.New("running")
			}
			return nil
		},
	}
	mon := NewMonitor(spec.QMPSocket, opts.QMPTimeout)
	if spec.QMPSocket != "" {
		if err := mon.Powerdown(ctx); err != nil {
			step.Status("power button: %v", err)
		} else if condition.Wait(ctx, gone, condition.Poll{Interval: 200 * time.Millisecond, Timeout: opts.PowerdownTimeout}, condition.StepReporter(step)) == nil {
			return step.Done(removeStale(spec.Pidfile))
		}
		if err := mon.Quit(ctx); err != nil {
			step.Status("quit: %v", err)
		}
		if condition.Wait(ctx, gone, condition.Poll{Interval: 100 * time.Millisecond, Timeout: quitTimeout}, condition.StepReporter(step)) == nil {
			return step.Done(removeStale(spec.Pidfile))
		}
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return step.Done(fmt.Errorf("kill QEMU %d of %s: %w", pid, spec.Name, err))
	}
	if err := condition.Wait(context.WithoutCancel(ctx), gone, condition.Poll{Interval: 50 * time.Millisecond, Timeout: 5 * time.Second}, condition.StepReporter(step)); err != nil {
		return step.Done(err)
	}
	return step.Done(removeStale(spec.Pidfile))
}

// qemuFromPidfile returns the pid in path when it is the QEMU that wrote it, else 0 (removing a
// stale pidfile).
func qemuFromPidfile(path string) (int, error) {
	if path == "" {
		return 0, errors.New("stop VM: the spec has no pidfile")
	}
	raw, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("read pidfile %s: %w", path, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("read pidfile %s: %q is not a pid (remove the file if no QEMU runs)", path, raw)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return 0, fmt.Errorf("stat pidfile %s: %w", path, err)
	}
	if !isQEMUOf(pid, path, fi.ModTime()) {
		return 0, removeStale(path)
	}
	return pid, nil
}

// isQEMUOf reports whether pid is a live qemu-system-x86_64 started with -pidfile path no later
// than written.
func isQEMUOf(pid int, path string, written time.Time) bool {
	if !process.Alive(pid) {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || filepath.Base(strings.TrimSuffix(exe, " (deleted)")) != Binary {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !bytes.Contains(cmdline, []byte("\x00-pidfile\x00"+path+"\x00")) {
		return false
	}
	started, err := startedAt(pid)
	return err == nil && !started.After(written.Add(2*time.Second)) // tick and btime rounding
}

// startedAt is when pid started, from its start time in ticks after boot and the boot time.
func startedAt(pid int) (time.Time, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return time.Time{}, err
	}
	i := bytes.LastIndexByte(raw, ')') // the command name may hold spaces and parentheses
	if i < 0 {
		return time.Time{}, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 20 { // fields[0] is field 3; the start time is field 22
		return time.Time{}, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	ticks, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return time.Time{}, fmt.Errorf("parse /proc/%d/stat start time: %w", pid, err)
	}
	boot, err := bootTime()
	if err != nil {
		return time.Time{}, err
	}
	return boot.Add(time.Duration(ticks) * time.Second / clockTicks), nil
}

func bootTime() (time.Time, error) {
	raw, err := os.ReadFile("/proc/stat")
	if err != nil {
		return time.Time{}, fmt.Errorf("read boot time: %w", err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "btime "); ok {
			sec, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				return time.Time{}, fmt.Errorf("parse boot time %q: %w", v, err)
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, errors.New("read boot time: no btime in /proc/stat")
}

func removeStale(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale pidfile %s: %w", path, err)
	}
	return nil
}
