package provider

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/daemon"
	"github.com/cozylab/cozylab/lab/state"
)

// Backend is what a provider adds to the skeleton Lab.
type Backend interface {
	// Check refuses, before anything starts, a request this host cannot serve, saying what
	// to do (not root, QEMU missing, a bad Talos image option).
	Check(req state.Request) error
	// Clean removes, from the state alone, what a daemon that is gone left running
	// (processes, VMs). With all set it also removes what outlives the daemon (the network,
	// host changes): the lab is being taken down. It joins every error.
	Clean(ctx context.Context, store *state.Store, step progress.Step, all bool) error
	// Describe adds the provider's nodes and components to st.
	Describe(store *state.Store, st *Status)
	// CollectLogs copies the lab's logs into dir, each read bounded by ctx.
	CollectLogs(ctx context.Context, store *state.Store, dir string) error
}

// daemonGrace bounds the daemon's own teardown (stopping VMs and processes) after SIGTERM.
const daemonGrace = 90 * time.Second

// Lab is the skeleton every provider shares: one lab, its state under Root, run by a daemon.
type Lab struct {
	// Root is the state root (state.Root()); Request the lab's request, decided at the edge.
	Root    string
	Request state.Request
	// Backend is the provider's part.
	Backend Backend
}

// Name implements Provider.
func (l *Lab) Name() string { return l.Request.Provider }

// Dir is the lab's state directory.
func (l *Lab) Dir() string { return filepath.Join(l.Root, l.Request.Name) }

// Kubeconfig implements Provider.
func (l *Lab) Kubeconfig() string { return filepath.Join(l.Dir(), "kubeconfig") }

// Open opens the lab's state as it is on disk.
func (l *Lab) Open() (*state.Store, error) { return state.Open(l.Root, l.Request.Name) }

// Up implements Provider. A lab already up is left as is. Otherwise what a killed daemon left
// running is cleaned up and a new daemon resumes the lab: kept actions are skipped, the
// others run.
func (l *Lab) Up(ctx context.Context, rep progress.Reporter) error {
	if err := l.Backend.Check(l.Request); err != nil {
		return err
	}
	store, err := state.Create(l.Root, l.Request)
	if err != nil {
		return err
	}
	id, recorded := daemon.Recorded(store)
	if recorded && id.Running() && store.Done(StepUp) {
		rep.Begin(fmt.Sprintf("Lab %s (%s)", l.Request.Name, l.Name())).Skip(fmt.Sprintf("already up (daemon pid %d)", id.Pid))
		return nil
	}
	if recorded || store.Done(StepUp) {
		step := rep.Begin(fmt.Sprintf("Cleaning up what the last daemon of lab %s left", l.Request.Name))
		var errs []error
		if id.Running() {
			step.Status("stopping the lab daemon (pid %d)", id.Pid)
			errs = append(errs, id.Terminate(ctx, daemonGrace))
		}
		errs = append(errs, l.Backend.Clean(ctx, store, step, false), store.SetDaemon(nil), store.Undo(StepUp))
		if err := step.Done(errors.Join(errs...)); err != nil {
			return err
		}
	}
	return l.launch(ctx, store, rep)
}

// launch builds the daemon from the request's checkout into <lab>/bin and starts it on the lab:
// it passes only where the state is, and the daemon reads the request from there. daemon.Spawn
// shows the daemon's steps on rep and returns once the lab is up and the daemon detached.
func (l *Lab) launch(ctx context.Context, store *state.Store, rep progress.Reporter) error {
	bin := filepath.Join(store.Dir(), "bin", "cozylab-lab")
	step := rep.Begin("Building the lab daemon")
	err := daemon.Build(ctx, l.Request.RepoRoot, bin)
	if p, ok := prebuilt.Path(prebuilt.Daemon); ok && err == nil {
		step.Skip("prebuilt: " + p)
	} else if err := step.Done(err); err != nil {
		return err
	}
	_, err = daemon.Spawn(ctx, daemon.Options{
		Path: bin, Args: []string{"--state-root", l.Root, "--lab", l.Request.Name}, Log: filepath.Join(store.Dir(), daemon.LogName),
	}, rep)
	return err
}

// Down implements Provider: it stops the daemon (its children die with it), cleans up what a
// killed daemon left and what outlives it, and removes the lab directory. The caches stay.
func (l *Lab) Down(ctx context.Context, rep progress.Reporter) error {
	store, err := l.Open()
	if err != nil {
		return err
	}
	step := rep.Begin(fmt.Sprintf("Removing lab %s (%s)", l.Request.Name, l.Name()))
	if _, err := os.Stat(l.Dir()); errors.Is(err, os.ErrNotExist) {
		step.Skip("no such lab")
		return nil
	}
	var errs []error
	if id, ok := daemon.Recorded(store); ok && id.Running() {
		step.Status("stopping the lab daemon (pid %d)", id.Pid)
		errs = append(errs, id.Terminate(ctx, daemonGrace))
	}
	errs = append(errs, l.Backend.Clean(ctx, store, step, true))
	return step.Done(errors.Join(append(errs, store.Remove())...))
}

// Stop stops the lab's daemon (its processes and VMs with it) and leaves everything that
// outlives it: the next Up resumes the lab. The sandbox pod stops its lab this way when the
// pod ends, so a new pod finds it on the volume.
func (l *Lab) Stop(ctx context.Context) error {
	store, err := l.Open()
	if err != nil || !store.Exists() {
		return err
	}
	if id, ok := daemon.Recorded(store); ok && id.Running() {
		return id.Terminate(ctx, daemonGrace)
	}
	return nil
}

// Status implements Provider.
func (l *Lab) Status(context.Context) (Status, error) {
	st := Status{Name: l.Request.Name, Provider: l.Name(), Phase: "absent"}
	store, err := l.Open()
	if err != nil || !store.Exists() {
		return st, err
	}
	st.Created = store.Lab().Created
	id, ok := daemon.Recorded(store)
	running := ok && id.Running()
	st.Phase = "partial"
	if running && store.Done(StepUp) {
		st.Phase = "up"
	}
	st.Components = append(st.Components, Component{Name: "lab daemon", Running: running,
		Detail: fmt.Sprintf("pid %d, log %s", id.Pid, filepath.Join(l.Dir(), daemon.LogName))})
	l.Backend.Describe(store, &st)
	return st, nil
}

// CollectLogs implements Provider: the daemon's log and the provider's logs.
func (l *Lab) CollectLogs(ctx context.Context, dir string) error {
	store, err := l.Open()
	if err != nil {
		return err
	}
	return errors.Join(CopyLog(filepath.Join(l.Dir(), daemon.LogName), filepath.Join(dir, daemon.LogName)),
		l.Backend.CollectLogs(ctx, store, dir))
}
