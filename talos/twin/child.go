package twin

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"

	"github.com/cozylab/cozylab/internal/process"
)

// stopGrace is how long a child gets to exit after SIGTERM before it is killed.
const stopGrace = 10 * time.Second

// child is one process the node runs (etcd, kube-apiserver), with its output in a log file.
// It is started once; a stopped child is replaced, not restarted.
type child struct {
	name string
	cmd  *exec.Cmd
	log  *os.File
	done chan struct{}

	mu   sync.Mutex
	err  error
	exit bool
}

// startChild runs path with args, its stdout and stderr appended to logPath. The child dies
// with the node's process (Pdeathsig), so a crashed agent or test leaves nothing behind.
func startChild(name, path string, args []string, logPath string) (*child, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open %s log: %w", name, err)
	}

	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}

	if err := cmd.Start(); err != nil {
		return nil, errors.Join(fmt.Errorf("start %s: %w", name, err), log.Close())
	}

	c := &child{name: name, cmd: cmd, log: log, done: make(chan struct{})}

	go c.wait()

	return c, nil
}

func (c *child) wait() {
	err := c.cmd.Wait()

	c.mu.Lock()
	c.err, c.exit = err, true
	c.mu.Unlock()

	close(c.done)
}

// exited reports whether the process ended, and how.
func (c *child) exited() (bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()

	return c.exit, c.err
}

// stop sends SIGTERM, waits up to stopGrace (or ctx), then kills. It is safe to call twice.
func (c *child) stop(ctx context.Context) error {
	if done, _ := c.exited(); !done {
		_ = c.cmd.Process.Signal(syscall.SIGTERM) //nolint:errcheck // the process may have just exited

		timer := time.NewTimer(stopGrace)
		defer timer.Stop()

		select {
		case <-c.done:
		case <-timer.C:
		case <-ctx.Done():
		}

		if done, _ := c.exited(); !done {
			if err := c.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
				return fmt.Errorf("kill %s: %w", c.name, err)
			}

			<-c.done
		}
	}

	if err := c.log.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
		return fmt.Errorf("close %s log: %w", c.name, err)
	}

	return nil
}

// withCPU appends the process's CPU time to a service message: under TCG it shows where the
// guest's time goes.
func (c *child) withCPU(msg string) string {
	if d, err := process.CPUTime(c.cmd.Process.Pid); err == nil {
		return fmt.Sprintf("%s (cpu %s)", msg, d.Round(100*time.Millisecond))
	}

	return msg
}
