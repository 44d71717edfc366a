package process

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/cozylab/cozylab/internal/command"
)

const (
	ownerLockFile = "owner.lock"
	pidsFile      = "pids"
)

// Group supervises processes sharing one run directory.
type Group struct {
	dir   string
	owner *os.File

	mu     sync.Mutex
	procs  []*Process
	closed bool
}

// Spec describes one process to start.
type Spec struct {
	// Name identifies the process in logs and errors; its log is <dir>/<Name>.log.
	Name string
	Path string
	Args []string
	// Env is added to the supervisor's environment.
	Env []string
	// StopTimeout is how long Stop waits after SIGTERM before SIGKILL; 10s when zero.
	StopTimeout time.Duration
	// NetNS, when set, is a network namespace file (/proc/<pid>/ns/net or a bind mount of
	// one): the process starts inside it.
	NetNS string
}

// Process is one supervised program.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	spec    Spec
	exited  chan struct{}
	waitErr error
	stopped bool // set under the group lock when Stop signalled it
}

// NewGroup creates dir (which must not be owned by a live group) and takes ownership of it.
func NewGroup(dir string) (*Group, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create run directory %s: %w", dir, err)
	}
	f, err := os.OpenFile(filepath.Join(dir, ownerLockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create owner lock in %s: %w", dir, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil, errors.Join(fmt.Errorf("own run directory %s: another live process owns it: %w", dir, err), f.Close())
	}
	if _, err := fmt.Fprintf(f, "%d\n", os.Getpid()); err != nil {
		return nil, errors.Join(fmt.Errorf("write owner lock in %s: %w", dir, err), f.Close())
	}
	return &Group{dir: dir, owner: f}, nil
}

// Dir is the group's run directory.
func (g *Group) Dir() string { return g.dir }

// Start starts spec, logging to <dir>/<name>.log, and records it so Sweep can find it.
func (g *Group) Start(spec Spec) (*Process, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil, fmt.Errorf("start %s: the process group is stopped", spec.Name)
	}
	logPath := filepath.Join(g.dir, spec.Name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("start %s: open log: %w", spec.Name, err)
	}
	defer logf.Close() // the child holds its own copy of the descriptor
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Env = append(os.Environ(), spec.Env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.Dir = g.dir
	if err := startCmd(cmd, spec.NetNS); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.Name, command.Wrap(cmd, nil, err))
	}
	p := &Process{Name: spec.Name, LogPath: logPath, cmd: cmd, spec: spec, exited: make(chan struct{})}
	go func() {
		p.waitErr = cmd.Wait()
		close(p.exited)
	}()
	g.procs = append(g.procs, p)
	if err := g.record(p); err != nil {
		return p, err
	}
	return p, nil
}

func (g *Group) record(p *Process) error {
	st, err := startTime(p.Pid())
	if err != nil {
		// It already exited; nothing to record, the exit watcher reports it.
		return nil
	}
	f, err := os.OpenFile(filepath.Join(g.dir, pidsFile), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("record %s: %w", p.Name, err)
	}
	_, werr := fmt.Fprintf(f, "%d %d %s\n", p.Pid(), st, p.Name)
	return errors.Join(werr, f.Close())
}

// Stop ends every process in reverse start order and releases the directory (which it leaves in
// place: its logs are worth reading). Errors are joined; a process that exits on our signal is
// not an error.
func (g *Group) Stop(ctx context.Context) error {
	g.mu.Lock()
	if g.closed {
		g.mu.Unlock()
		return nil
	}
	g.closed = true
	procs := append([]*Process(nil), g.procs...)
	g.mu.Unlock()
	var errs []error
	for i := len(procs) - 1; i >= 0; i-- {
		errs = append(errs, procs[i].stop(ctx))
	}
	if err := g.owner.Close(); err != nil {
		errs = append(errs, fmt.Errorf("release run directory %s: %w", g.dir, err))
	}
	return errors.Join(errs...)
}

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited is closed when the process has exited.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// ExitError describes how the process ended; valid once Exited is closed.
func (p *Process) ExitError() error {
	<-p.exited
	if p.waitErr == nil {
		return fmt.Errorf("%s exited with status 0", p.Name)
	}
	return fmt.Errorf("%s exited: %w", p.Name, p.waitErr)
}

// LogTail returns the last n lines the process wrote.
func (p *Process) LogTail(n int) string {
	raw, err := os.ReadFile(p.LogPath)
	if err != nil {
		return ""
	}
	return command.Tail(string(raw), n)
}

// Stop ends this one process (SIGTERM, then SIGKILL after its StopTimeout), leaving the rest of
// the group running.
func (p *Process) Stop(ctx context.Context) error { return p.stop(ctx) }

func (p *Process) stop(ctx context.Context) error {
	select {
	case <-p.exited:
		return nil // it ended on its own; whoever watched it reported why
	default:
	}
	timeout := p.spec.StopTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	pgid := -p.Pid() // Setpgid made the process the leader of its own group
	if err := syscall.Kill(pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop %s: %w", p.Name, err)
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-p.exited:
		return nil
	case <-ctx.Done():
	case <-t.C:
	}
	if err := syscall.Kill(pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("kill %s: %w", p.Name, err)
	}
	<-p.exited
	return nil
}

// Sweep removes the run directories under root whose owning group is gone, first killing any
// process they recorded that still runs. It returns the directories it removed.
func Sweep(root string) ([]string, error) {
	entries, err := os.ReadDir(root)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("list run directories in %s: %w", root, err)
	}
	var removed []string
	var errs []error
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		dir := filepath.Join(root, e.Name())
		stale, err := orphaned(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !stale {
			continue
		}
		if err := killRecorded(dir); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("remove stale run directory %s: %w", dir, err))
			continue
		}
		removed = append(removed, dir)
	}
	return removed, errors.Join(errs...)
}

// orphaned reports whether dir is a run directory whose owner no longer holds its lock.
func orphaned(dir string) (bool, error) {
	f, err := os.OpenFile(filepath.Join(dir, ownerLockFile), os.O_RDWR, 0)
	if errors.Is(err, os.ErrNotExist) {
		// Not yet (or never) a group directory: NewGroup creates the lock right after the
		// directory, so only a directory older than a minute without one is debris.
		fi, serr := os.Stat(dir)
		return serr == nil && time.Since(fi.ModTime()) > time.Minute, nil
	} else if err != nil {
		return false, fmt.Errorf("open owner lock of %s: %w", dir, err)
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return false, nil // a live group holds it
	}
	return true, nil // our lock is dropped by the deferred Close
}

func killRecorded(dir string) error {
	recs, err := Recorded(dir)
	var errs []error
	for _, r := range recs {
		errs = append(errs, killIfSame(r.Pid, r.Start))
	}
	return errors.Join(append(errs, err)...)
}

// RecordedProcess is a process a group started, as its run directory records it.
type RecordedProcess struct {
	Name string
	Identity
}

// Recorded lists the processes the group owning dir started, in start order; a directory
// without a record has none.
func Recorded(dir string) ([]RecordedProcess, error) {
	f, err := os.Open(filepath.Join(dir, pidsFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	} else if err != nil {
		return nil, fmt.Errorf("read processes of %s: %w", dir, err)
	}
	defer f.Close()
	var out []RecordedProcess
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 3 {
			continue
		}
		pid, err1 := strconv.Atoi(fields[0])
		start, err2 := strconv.ParseUint(fields[1], 10, 64)
		if err1 != nil || err2 != nil {
			continue
		}
		out = append(out, RecordedProcess{Name: fields[2], Identity: Identity{Pid: pid, Start: start}})
	}
	return out, sc.Err()
}
