package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// statFields returns the fields of /proc/<pid>/stat from field 3 (state) on: fields[i] is
// field i+3. The command name (field 2) may hold spaces and parentheses; the fields resume after
// its last ')'.
func statFields(pid int) ([]string, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return nil, err
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return nil, fmt.Errorf("parse /proc/%d/stat: no command name", pid)
	}
	fields := strings.Fields(string(raw[i+1:]))
	if len(fields) < 20 {
		return nil, fmt.Errorf("parse /proc/%d/stat: %d fields", pid, len(fields))
	}
	return fields, nil
}

// startTime returns the start time of pid in clock ticks since boot (field 22 of
// /proc/<pid>/stat), which together with the pid identifies one process for good.
func startTime(pid int) (uint64, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(fields[19], 10, 64)
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times (100 on Linux).
const clockTicks = 100

// CPUTime is the CPU time (user and system, fields 14 and 15 of /proc/<pid>/stat) pid has used.
func CPUTime(pid int) (time.Duration, error) {
	fields, err := statFields(pid)
	if err != nil {
		return 0, err
	}
	utime, err := strconv.ParseUint(fields[11], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat utime: %w", pid, err)
	}
	stime, err := strconv.ParseUint(fields[12], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parse /proc/%d/stat stime: %w", pid, err)
	}
	return time.Duration(utime+stime) * time.Second / clockTicks, nil
}

// state returns the one-letter state of pid (R, S, Z, ...), or "" when it does not exist.
func state(pid int) string {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 || i+2 >= len(raw) {
		return ""
	}
	return string(raw[i+2])
}

// Alive reports whether pid exists and is not a zombie. A zombie has exited and only waits to
// be reaped by its parent (in a container, PID 1 may never do it).
func Alive(pid int) bool {
	s := state(pid)
	return s != "" && s != "Z" && s != "X"
}

// killIfSame sends SIGKILL to pid (and its process group) when it is still the process that started at start.
func killIfSame(pid int, start uint64) error {
	got, err := startTime(pid)
	if err != nil || got != start || !Alive(pid) {
		return nil // gone, or the pid now belongs to someone else
	}
	// Our children lead their own process group (Setpgid): take the group, then the leader in
	// case it left the group.
	_ = syscall.Kill(-pid, syscall.SIGKILL) // ESRCH when the group is gone; the next call decides
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill leftover process %d: %w", pid, err)
	}
	return nil
}

// Running is a live process found by FindByExecutable.
type Running struct {
	Pid int
	// Start is the start time in clock ticks since boot: with Pid, it names the process for good.
	Start uint64
	Exe   string
	Args  string
}

// Identity names the process for good, so a later check or kill cannot hit a reused pid.
func (r Running) Identity() Identity { return Identity{Pid: r.Pid, Start: r.Start} }

// FindByExecutable lists live processes whose executable lies under dir. It finds leftovers of
// programs started from a known place (the binaries cache) whoever started them.
func FindByExecutable(dir string) ([]Running, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("list processes: %w", err)
	}
	prefix := strings.TrimSuffix(dir, "/") + "/"
	var out []Running
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
		if err != nil || !strings.HasPrefix(exe, prefix) || !Alive(pid) {
			continue
		}
		start, err := startTime(pid)
		if err != nil {
			continue // it exited between the two reads
		}
		args, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		out = append(out, Running{Pid: pid, Start: start, Exe: exe, Args: strings.TrimSpace(strings.ReplaceAll(string(args), "\x00", " "))})
	}
	return out, nil
}

// FindMentioning lists live processes whose executable path or arguments contain s (a lab's
// directory): what a lab started, wherever its binary lives.
func FindMentioning(s string) ([]Running, error) {
	all, err := FindByExecutable("/")
	if err != nil {
		return nil, err
	}
	var out []Running
	for _, r := range all {
		if strings.Contains(r.Exe, s) || strings.Contains(r.Args, s) {
			out = append(out, r)
		}
	}
	return out, nil
}
