package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/daemon"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/state"
)

// ProviderName is the local provider's name in state files and LAB_PROVIDER.
const ProviderName = "local"

// StepUp is the state step the daemon records when the lab is up.
const StepUp = "up"

// Provider runs local labs: the lab lives in a daemon (lab/cmd/cozylab-lab) that `Up` starts
// and detaches once everything answers, and `Down` stops.
type Provider struct {
	// Lab is the lab's name; Root the state root (state.Root() when empty).
	Lab, Root string
	// RepoRoot is the checkout the daemon is built from (the module root).
	RepoRoot string
}

var _ provider.Provider = (*Provider)(nil)

// Name implements provider.Provider.
func (p *Provider) Name() string { return ProviderName }

// Dir is the lab's state directory.
func (p *Provider) Dir() string { return filepath.Join(p.root(), p.Lab) }

// root is Root, or the user's state root when Root is empty.
func (p *Provider) root() string {
	if p.Root != "" {
		return p.Root
	}
	root, err := state.Root()
	if err != nil {
		return "" // p.open reports the same error
	}
	return root
}

func (p *Provider) open() (*state.Store, error) {
	if _, err := state.Root(); p.Root == "" && err != nil {
		return nil, err
	}
	return state.Open(p.root(), p.Lab, ProviderName)
}

// Kubeconfig implements provider.Provider.
func (p *Provider) Kubeconfig() string { return filepath.Join(p.Dir(), "kubeconfig") }

// Up implements provider.Provider. A lab already up is left as is; one left behind by a killed
// harness or a failure is removed first, then started afresh.
func (p *Provider) Up(ctx context.Context, rep progress.Reporter) error {
	store, err := p.open()
	if err != nil {
		return err
	}
	if id, ok := daemon.Recorded(store); ok && id.Running() && store.Done(StepUp) {
		rep.Begin(fmt.Sprintf("Local lab %s", p.Lab)).Skip(fmt.Sprintf("already up (daemon pid %d)", id.Pid))
		return nil
	}
	if store.Exists() {
		step := rep.Begin(fmt.Sprintf("Removing what a previous lab:up of %s left", p.Lab))
		if err := step.Done(p.teardown(ctx, store)); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(p.Dir(), 0o700); err != nil {
		return fmt.Errorf("create lab directory: %w", err)
	}
	return daemon.Launch(ctx, p.RepoRoot, ProviderName, p.Dir(), rep)
}

// Down implements provider.Provider: it stops the daemon (its children die with it), kills
// whatever a killed daemon left, and removes the lab directory. The binaries cache stays.
func (p *Provider) Down(ctx context.Context, rep progress.Reporter) error {
	store, err := p.open()
	if err != nil {
		return err
	}
	step := rep.Begin(fmt.Sprintf("Removing local lab %s", p.Lab))
	if _, err := os.Stat(p.Dir()); errors.Is(err, os.ErrNotExist) {
		step.Skip("no such lab")
		return nil
	}
	return step.Done(errors.Join(p.teardown(ctx, store), store.Remove()))
}

func (p *Provider) teardown(ctx context.Context, store *state.Store) error {
	var errs []error
	if id, ok := daemon.Recorded(store); ok {
		errs = append(errs, id.Terminate(ctx, 30*time.Second))
	}
	// A daemon killed with SIGKILL takes its children along (Pdeathsig); these catch the rest.
	if _, err := process.Sweep(filepath.Join(p.Dir(), "run")); err != nil {
		errs = append(errs, err)
	}
	left, err := process.FindMentioning(p.Dir())
	errs = append(errs, err)
	for _, r := range left {
		if r.Pid == os.Getpid() {
			continue
		}
		if id, err := process.Identify(r.Pid); err == nil {
			errs = append(errs, id.Terminate(ctx, 5*time.Second))
		}
	}
	for _, sub := range []string{"run", "operator", "artifacts", "flux-storage"} {
		errs = append(errs, os.RemoveAll(filepath.Join(p.Dir(), sub)))
	}
	return errors.Join(errs...)
}

// Status implements provider.Provider.
func (p *Provider) Status(ctx context.Context) (provider.Status, error) {
	st := provider.Status{Name: p.Lab, Provider: ProviderName, Phase: "absent"}
	store, err := p.open()
	if err != nil || !store.Exists() {
		return st, err
	}
	lab := store.Lab()
	st.Created = lab.Created
	id, ok := daemon.Recorded(store)
	running := ok && id.Running()
	st.Phase = "partial"
	if running && store.Done(StepUp) {
		st.Phase = "up"
	}
	st.Components = append(st.Components, provider.Component{Name: "lab daemon", Running: running,
		Detail: fmt.Sprintf("pid %d, log %s", id.Pid, filepath.Join(p.Dir(), daemon.LogName))})
	runs, _ := filepath.Glob(filepath.Join(p.Dir(), "run", "run-*"))
	for _, run := range runs {
		procs, _ := process.Recorded(run)
		latest := map[string]int{} // a restarted process (the operator) is shown once, as it runs now
		for i, r := range procs {
			latest[r.Name] = i
		}
		for i, r := range procs {
			if latest[r.Name] != i {
				continue
			}
			st.Components = append(st.Components, provider.Component{Name: r.Name, Running: r.Running(),
				Detail: fmt.Sprintf("pid %d, log %s", r.Pid, filepath.Join(run, r.Name+".log"))})
		}
	}
	if reg := store.Value(KeyRegistry); reg != "" {
		st.Components = append(st.Components, provider.Component{Name: "registry", Running: running, Detail: reg})
	}
	for _, n := range DefaultNodes {
		st.Nodes = append(st.Nodes, provider.Node{Name: n.Name, Address: "kwok (simulated)", Role: "control-plane"})
	}
	return st, nil
}

// CollectLogs implements provider.Provider: the daemon's log and every process log of the
// running lab (control plane, kwok, Flux, operator), each copy bounded by ctx.
func (p *Provider) CollectLogs(ctx context.Context, dir string) error {
	logs, _ := filepath.Glob(filepath.Join(p.Dir(), "run", "*", "*.log"))
	logs = append(logs, filepath.Join(p.Dir(), daemon.LogName))
	var errs []error
	for _, l := range logs {
		if ctx.Err() != nil {
			return errors.Join(append(errs, fmt.Errorf("collect logs: %w", ctx.Err()))...)
		}
		errs = append(errs, provider.CopyLog(l, filepath.Join(dir, filepath.Base(l))))
	}
	return errors.Join(errs...)
}

// Registry is the host:port of the lab's artifact registry, once the lab is up.
func (p *Provider) Registry() (string, error) {
	store, err := p.open()
	if err != nil {
		return "", err
	}
	if r := store.Value(KeyRegistry); r != "" {
		return r, nil
	}
	return "", fmt.Errorf("lab %s has no registry: it is not up (go run mage.go lab:up)", p.Lab)
}

// ClusterRegistry is Registry: the local cluster's controllers run on this machine.
func (p *Provider) ClusterRegistry() (string, error) { return p.Registry() }

// InstallerVariant is "hosted": the local operator reaches the API through its kubeconfig, and
// its Deployment (on a kwok node) needs no node-local endpoint.
func (p *Provider) InstallerVariant() string { return "hosted" }
