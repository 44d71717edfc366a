//go:build integration && linux

package main

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/sys/unix"

	"github.com/cozylab/cozylab/internal/command"
)

// buildPause builds this package as the image does: static and stripped.
func buildPause(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "pause")
	cmd := exec.CommandContext(t.Context(), "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	_, err := command.Run(cmd)
	require.NoError(t, err)
	return bin
}

// startInNewPIDNamespace starts bin as PID 1 of a new PID namespace, as a pod sandbox runs.
func startInNewPIDNamespace(t *testing.T, bin string) *exec.Cmd {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a PID namespace; this test runs as a non-root user")
	}
	cmd := exec.Command(bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			assert.NoError(t, cmd.Process.Kill())
			_ = cmd.Wait() // killed on purpose: its exit status says nothing
		}
	})
	return cmd
}

// orphanIn runs a shell inside the PID namespace of pid that starts `sleep 1` in the background
// and exits at once, so the sleep is re-parented to the namespace's PID 1. The sleep's output
// goes to /dev/null: holding the pipe open would make the run wait for it.
func orphanIn(t *testing.T, pid int) {
	t.Helper()
	ns, err := os.Open(filepath.Join("/proc", strconv.Itoa(pid), "ns", "pid"))
	require.NoError(t, err)
	defer ns.Close()
	done := make(chan error, 1)
	go func() {
		// setns(CLONE_NEWPID) changes where this thread's children go; the thread is thrown
		// away afterwards (never unlocked), so no other goroutine inherits it.
		runtime.LockOSThread()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWPID); err != nil {
			done <- err
			return
		}
		_, err := command.Run(exec.Command("/bin/sh", "-c", "sleep 1 >/dev/null 2>&1 & exit"))
		done <- err
	}()
	require.NoError(t, <-done)
}

// children lists the PIDs whose parent is pid, with their state letter (Z: zombie).
func children(t *testing.T, pid int) map[string]string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	out := map[string]string{}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue // not a process, or it ended meanwhile
		}
		// "<pid> (<comm>) <state> <ppid> ...": comm may hold spaces, so split after its ')'.
		fields := strings.Fields(string(raw[strings.LastIndexByte(string(raw), ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			out[e.Name()] = fields[0]
		}
	}
	return out
}

func TestPauseAsPID1ReapsOrphansAndStopsOnSIGTERM(t *testing.T) {
	cmd := startInNewPIDNamespace(t, buildPause(t))
	pid := cmd.Process.Pid

	orphanIn(t, pid)
	require.Eventually(t, func() bool { return len(children(t, pid)) > 0 }, 5*time.Second, 20*time.Millisecond,
		"the orphaned sleep must be re-parented to pause")
	require.Eventually(t, func() bool { return len(children(t, pid)) == 0 }, 10*time.Second, 50*time.Millisecond,
		"pause must reap its exited children, not leave them as zombies")

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	err := waitWithin(cmd, 10*time.Second)
	require.NoError(t, err, "pause exits 0 on SIGTERM")
}

// waitWithin waits for cmd, or kills it after d.
func waitWithin(cmd *exec.Cmd, d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return errors.Join(errors.New("pause did not exit after SIGTERM"), cmd.Process.Kill())
	}
}
