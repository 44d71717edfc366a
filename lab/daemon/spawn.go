package daemon

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/cozylab/cozylab/internal/progress"
)

// Options describe a daemon to start.
type Options struct {
	// Path and Args are the daemon's program and arguments.
	Path string
	Args []string
	// Env is added to the parent's environment.
	Env []string
	// Log receives the daemon's stdout and stderr (created 0600, appended).
	Log string
}

// Spawn starts the daemon, shows its steps on rep, and returns its pid once it reported ready,
// having detached it. When the daemon fails, exits, or ctx ends first, the daemon tears down
// and Spawn returns the error with the end of its log.
func Spawn(ctx context.Context, o Options, rep progress.Reporter) (pid int, err error) {
	logFile, err := os.OpenFile(o.Log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, fmt.Errorf("open daemon log: %w", err)
	}
	defer logFile.Close()
	lifeR, lifeW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("create lifeline: %w", err)
	}
	evR, evW, err := os.Pipe()
	if err != nil {
		return 0, errors.Join(fmt.Errorf("create event pipe: %w", err), lifeR.Close(), lifeW.Close())
	}
	defer evR.Close()
	cmd := exec.Command(o.Path, o.Args...)
	cmd.Env = append(os.Environ(), o.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.ExtraFiles = []*os.File{lifeR, evW} // fd 3, fd 4
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	startErr := cmd.Start()
	lifeR.Close()
	evW.Close()
	if startErr != nil {
		lifeW.Close()
		return 0, fmt.Errorf("start %s: %w", o.Path, startErr)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Closing the lifeline (here on failure or cancellation, or by the kernel if we are
	// killed) makes the daemon tear down; its event stream then ends too.
	stopReplay := context.AfterFunc(ctx, func() { lifeW.Close() })
	defer stopReplay()
	var outcome progress.Event
	replayErr := progress.Replay(evR, rep, func(ev progress.Event) bool {
		if ev.Kind == EventReady || ev.Kind == EventFailed {
			outcome = ev
			return true
		}
		return false
	})
	if outcome.Kind == EventReady && ctx.Err() == nil {
		if _, err := lifeW.WriteString(detachWord + "\n"); err != nil {
			return 0, fmt.Errorf("detach daemon: %w", err)
		}
		lifeW.Close()
		return cmd.Process.Pid, nil
	}
	lifeW.Close()
	waitErr := waitExit(exited, time.Minute)
	switch {
	case ctx.Err() != nil:
		return 0, fmt.Errorf("lab daemon stopped: %w", ctx.Err())
	case outcome.Kind == EventFailed:
		return 0, errors.New(outcome.Error)
	}
	return 0, fmt.Errorf("lab daemon exited before it was ready (%v, %v); the end of %s:\n%s", waitErr, replayErr, o.Log, Tail(o.Log, 20))
}

func waitExit(exited <-chan error, bound time.Duration) error {
	select {
	case err := <-exited:
		return err
	case <-time.After(bound):
		return fmt.Errorf("still running after %s", bound)
	}
}

// Tail returns the last n lines of the file at path, or a note that it cannot be read.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
