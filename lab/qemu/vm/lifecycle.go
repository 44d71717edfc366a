package vm

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"time"

	"github.com/cozylab/cozylab/internal/process"
)

// eventGrace bounds the wait for the event stream to end after QEMU exited.
const eventGrace = 2 * time.Second

// quitTimeout bounds the wait for QEMU to exit after QMP quit before SIGKILL.
const quitTimeout = 5 * time.Second

// supervise waits for each QEMU run to end and decides: restart after a reset (the guest
// rebooted, or Monitor.Reset), end otherwise.
func (m *Machine) supervise() {
	for {
		m.mu.Lock()
		proc, events := m.proc, m.events
		m.mu.Unlock()
		<-proc.Exited()
		reason := events.finalReason(eventGrace)
		var exitErr *exec.ExitError
		crashed := errors.As(proc.ExitError(), &exitErr)

		m.mu.Lock()
		stopping := m.stopping
		m.mu.Unlock()
		switch {
		case stopping:
			m.finish(nil)
			return
		case crashed:
			m.finish(fmt.Errorf("QEMU for %s crashed: %w\n%s", m.spec.Name, proc.ExitError(), proc.LogTail(10)))
			return
		case reason == reasonGuestShutdown:
			m.finish(fmt.Errorf("VM %s: %w", m.spec.Name, ErrGuestPoweredOff))
			return
		case reason != reasonGuestReset && reason != reasonHostReset:
			m.finish(fmt.Errorf("QEMU for %s exited with status 0 without a guest reset (shutdown reason %q)\n%s",
				m.spec.Name, reason, proc.LogTail(10)))
			return
		}
		if err := m.restart(); err != nil {
			m.finish(err)
			return
		}
	}
}

// restart starts QEMU again after a guest reboot, unless Stop came first or the guest keeps
// rebooting.
func (m *Machine) restart() error {
	m.mu.Lock()
	if m.reboots >= m.opts.MaxReboots {
		m.mu.Unlock()
		return fmt.Errorf("VM %s rebooted %d times: stopped restarting it (a reboot loop? see its serial log %s)",
			m.spec.Name, m.opts.MaxReboots, m.spec.SerialLog)
	}
	m.reboots++
	n := m.reboots
	m.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), m.opts.StartTimeout+m.opts.QMPTimeout)
	defer cancel()
	if err := m.launch(ctx, fmt.Sprintf("Restarting QEMU for %s (guest reboot %d)", m.spec.Name, n)); err != nil {
		return err
	}
	m.mu.Lock()
	stopping, proc := m.stopping, m.proc
	m.mu.Unlock()
	if stopping { // Stop ran while we relaunched and saw only the old, exited run
		return kill(proc)
	}
	return nil
}

func (m *Machine) finish(err error) {
	m.err = err
	close(m.done)
}

// Stop shuts the VM down gracefully and waits for the supervisor to end: ACPI power button,
// a bounded wait for QEMU to exit (PowerdownTimeout), QMP quit, a bounded wait, then SIGKILL.
// It returns nil when QEMU ended by any rung; an error only when it could not be ended or ctx
// ended first. Stopping a machine that already ended returns nil.
func (m *Machine) Stop(ctx context.Context) error {
	m.mu.Lock()
	m.stopping = true
	proc := m.proc
	m.mu.Unlock()
	err := m.shutdown(ctx, proc)
	select {
	case <-m.done:
	case <-ctx.Done():
		return errors.Join(err, fmt.Errorf("stop VM %s: %w", m.spec.Name, ctx.Err()))
	}
	return err
}

func (m *Machine) shutdown(ctx context.Context, proc *process.Process) error {
	step := m.opts.Progress.Begin("Stopping VM " + m.spec.Name)
	if exited(proc) {
		step.Skip("not running")
		return nil
	}
	if err := m.qmp.Powerdown(ctx); err != nil {
		step.Status("power button: %v", err)
	} else if waitExit(ctx, proc, m.opts.PowerdownTimeout) {
		return step.Done(nil)
	} else {
		step.Status("guest ignored the power button for %s; quitting QEMU", m.opts.PowerdownTimeout)
	}
	if err := m.qmp.Quit(ctx); err != nil {
		step.Status("quit: %v", err)
	}
	if waitExit(ctx, proc, quitTimeout) {
		return step.Done(nil)
	}
	step.Status("QEMU did not quit within %s; killing it", quitTimeout)
	return step.Done(kill(proc))
}

func exited(proc *process.Process) bool {
	select {
	case <-proc.Exited():
		return true
	default:
		return false
	}
}

// waitExit reports whether proc exits within timeout.
func waitExit(ctx context.Context, proc *process.Process, timeout time.Duration) bool {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-proc.Exited():
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}
