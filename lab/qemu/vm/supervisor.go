package vm

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
)

// ErrGuestPoweredOff is what Err reports when the guest powered itself off (QEMU exited 0 after
// a SHUTDOWN with reason guest-shutdown) without Stop being called. It is not restarted.
var ErrGuestPoweredOff = errors.New("the guest powered itself off")

// Options tune a Machine. Zero values pick the defaults named on each field.
type Options struct {
	// Group runs QEMU (logs to <group dir>/<name>.log, Pdeathsig, stale-run sweeping); required.
	Group *process.Group
	// Progress receives a step per QEMU start and restart; progress.Discard when nil.
	Progress progress.Reporter
	// MaxReboots bounds how often a guest reboot restarts QEMU (a reboot loop ends the
	// machine with an error); 32 when zero.
	MaxReboots int
	// StartTimeout bounds the wait for QEMU's QMP sockets; 30s when zero.
	StartTimeout time.Duration
	// PowerdownTimeout bounds the wait for the guest to honour the ACPI power button in Stop
	// before QEMU is told to quit; 60s when zero.
	PowerdownTimeout time.Duration
	// QMPTimeout bounds each QMP call; DefaultQMPTimeout when zero.
	QMPTimeout time.Duration
}

func (o Options) withDefaults() Options {
	if o.Progress == nil {
		o.Progress = progress.Discard
	}
	if o.MaxReboots == 0 {
		o.MaxReboots = 32
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 30 * time.Second
	}
	if o.PowerdownTimeout == 0 {
		o.PowerdownTimeout = 60 * time.Second
	}
	if o.QMPTimeout == 0 {
		o.QMPTimeout = DefaultQMPTimeout
	}
	return o
}

// Machine is one supervised VM: QEMU restarted on every guest reboot until Stop, a crash, a
// guest power-off or MaxReboots.
type Machine struct {
	spec Spec
	opts Options
	bin  string
	qmp  *Monitor

	mu       sync.Mutex
	proc     *process.Process
	events   *eventWatch
	stopping bool
	reboots  int

	done chan struct{}
	err  error
}

// Start validates spec, starts QEMU and returns once its QMP sockets answer. ctx bounds only the
// start: the machine then runs on its own until Stop, and Done is closed when it has ended for
// good.
func Start(ctx context.Context, spec Spec, opts Options) (*Machine, error) {
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if spec.QMPSocket == "" {
		return nil, fmt.Errorf("start VM %s: the spec has no QMP socket", spec.Name)
	}
	if opts.Group == nil {
		return nil, fmt.Errorf("start VM %s: no process group given", spec.Name)
	}
	bin, err := LookPath()
	if err != nil {
		return nil, err
	}
	opts = opts.withDefaults()
	m := &Machine{spec: spec, opts: opts, bin: bin, qmp: NewMonitor(spec.QMPSocket, opts.QMPTimeout), done: make(chan struct{})}
	if err := m.launch(ctx, "Starting QEMU for "+spec.Name); err != nil {
		return nil, err
	}
	go m.supervise()
	return m, nil
}

// LookPath finds qemu-system-x86_64 or says how to install it.
func LookPath() (string, error) {
	p, err := exec.LookPath(Binary)
	if err != nil {
		return "", fmt.Errorf("find %s: %w (install it with: apt-get install qemu-system-x86)", Binary, err)
	}
	return p, nil
}

// Spec is the machine's spec.
func (m *Machine) Spec() Spec { return m.spec }

// QMP is the machine's command monitor.
func (m *Machine) QMP() *Monitor { return m.qmp }

// Status is the guest's run state from query-status ("running", ...).
func (m *Machine) Status(ctx context.Context) (string, error) { return m.qmp.Status(ctx) }

// Pid is the current QEMU process id (it changes when a reboot restarts QEMU).
func (m *Machine) Pid() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.proc.Pid()
}

// Reboots is how many guest reboots restarted QEMU so far.
func (m *Machine) Reboots() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.reboots
}

// Done is closed when the machine has ended for good.
func (m *Machine) Done() <-chan struct{} { return m.done }

// Err says why the machine ended: nil after Stop, ErrGuestPoweredOff, or the crash or reboot
// loop. Valid once Done is closed.
func (m *Machine) Err() error {
	<-m.done
	return m.err
}

// launch starts one QEMU run and waits until both QMP sockets answer.
func (m *Machine) launch(ctx context.Context, title string) error {
	step := m.opts.Progress.Begin(title)
	for _, sock := range []string{m.spec.QMPSocket, m.spec.EventSocket()} {
		if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
			return step.Done(fmt.Errorf("remove stale QMP socket %s: %w", sock, err))
		}
	}
	proc, err := m.opts.Group.Start(process.Spec{Name: m.spec.Name, Path: m.bin, Args: Args(m.spec)})
	if err != nil {
		if proc != nil { // started but not recorded for sweeping: do not leave it behind
			err = errors.Join(err, kill(proc))
		}
		return step.Done(fmt.Errorf("start QEMU for %s: %w", m.spec.Name, err))
	}
	ready := condition.Condition{
		Name: "QMP sockets of " + m.spec.Name,
		Check: func(context.Context) error {
			select {
			case <-proc.Exited():
				return condition.Permanent(fmt.Errorf("%w:\n%s", proc.ExitError(), proc.LogTail(10)))
			default:
			}
			// QEMU creates its sockets one after the other: under load the event socket may
			// still be missing a moment after the QMP one answers, so both must answer.
			for _, sock := range []string{m.spec.QMPSocket, m.spec.EventSocket()} {
				c, err := net.Dial("unix", sock)
				if err != nil {
					return fmt.Errorf("no socket %s yet", filepath.Base(sock))
				}
				if err := c.Close(); err != nil {
					return condition.Permanent(err)
				}
			}
			return nil
		},
	}
	if err := condition.Wait(ctx, ready, condition.Poll{Interval: 50 * time.Millisecond, Timeout: m.opts.StartTimeout}, condition.StepReporter(step)); err != nil {
		return step.Done(errors.Join(err, kill(proc)))
	}
	events, err := watchEvents(m.spec.EventSocket(), m.opts.QMPTimeout)
	if err != nil {
		return step.Done(errors.Join(err, kill(proc)))
	}
	m.mu.Lock()
	m.proc, m.events = proc, events
	m.mu.Unlock()
	return step.Done(nil)
}

// kill ends proc with SIGKILL (its whole process group) and waits for it.
func kill(proc *process.Process) error {
	select {
	case <-proc.Exited():
		return nil
	default:
	}
	if err := syscall.Kill(-proc.Pid(), syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill QEMU %d: %w", proc.Pid(), err)
	}
	<-proc.Exited()
	return nil
}
