package qemu

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

// ProviderName is the QEMU provider's name in state files and LAB_PROVIDER.
const ProviderName = "qemu"

// Steps the lab records in its state.
const (
	// StepNetwork is done while the lab's host network exists.
	StepNetwork = "network"
	// StepUp is done once the Kubernetes API answered through the VIP.
	StepUp = "up"
)

// Keys of the values the lab records in its state.
const (
	KeyRepoRoot    = "repoRoot"
	KeyNetwork     = "network"
	KeyHostChanges = "hostChanges"
	KeyAccel       = "accel"
	KeyNodeImage   = "nodeImage"
	KeyKubeconfig  = "kubeconfig"
	// KeyTalosVersion, KeyTalosSchematic and KeyTalosPin are what Up was asked for with
	// LAB_NODE_IMAGE=talos; KeyTalosImage is the image the daemon used (talosimage.Image, JSON).
	KeyTalosVersion   = "talosVersion"
	KeyTalosSchematic = "talosSchematic"
	KeyTalosPin       = "talosSHA256"
	KeyTalosImage     = "talosImage"
	// KeyRegistry is the artifact registry's address on 127.0.0.1 (the harness pushes there);
	// KeyClusterRegistry the same registry on the bridge's gateway (the nodes pull there).
	KeyRegistry        = "registry"
	KeyClusterRegistry = "clusterRegistry"
)

// daemonGrace bounds the daemon's own teardown (stopping three VMs and the network) after
// SIGTERM before it is killed.
const daemonGrace = 90 * time.Second

// Provider runs QEMU labs: the VMs live in a daemon (lab/cmd/cozylab-lab) that Up starts and
// detaches once the Kubernetes API answers, and Down stops.
type Provider struct {
	// Lab is the lab's name; Root the state root (state.Root() when empty).
	Lab, Root string
	// RepoRoot is the checkout the daemon and the twin agent are built from (the module root).
	RepoRoot string
	// NodeImage is LAB_NODE_IMAGE: NodeImageTwin (or empty) or NodeImageTalos.
	NodeImage string
	// TalosVersion, TalosSchematic and TalosSHA256 choose and pin the Talos image when
	// NodeImage is NodeImageTalos; when empty they are read from LAB_TALOS_VERSION,
	// LAB_TALOS_SCHEMATIC and LAB_TALOS_IMAGE_SHA256, then default (talosimage).
	TalosVersion, TalosSchematic, TalosSHA256 string
}

var _ provider.Provider = (*Provider)(nil)

// Name implements provider.Provider.
func (p *Provider) Name() string { return ProviderName }

// Dir is the lab's state directory.
func (p *Provider) Dir() string { return filepath.Join(p.root(), p.Lab) }

// Kubeconfig implements provider.Provider.
func (p *Provider) Kubeconfig() string { return filepath.Join(p.Dir(), "kubeconfig") }

func (p *Provider) root() string {
	if p.Root != "" {
		return p.Root
	}
	root, err := state.Root()
	if err != nil {
		return "" // state.Open reports the same error
	}
	return root
}

func (p *Provider) open() (*state.Store, error) { return state.Open(p.root(), p.Lab, ProviderName) }

// Up implements provider.Provider. A lab already up is left as is; one left behind by a killed
// harness or a failure is removed first, then started afresh.
func (p *Provider) Up(ctx context.Context, rep progress.Reporter) error {
	if err := Prerequisites(p.NodeImage); err != nil {
		return err
	}
	if err := p.checkTalos(); err != nil {
		return err
	}
	store, err := p.open()
	if err != nil {
		return err
	}
	if id, ok := daemon.Recorded(store); ok && id.Running() && store.Done(StepUp) {
		if err := p.sameImage(store.Value(KeyNodeImage)); err != nil {
			return err
		}
		rep.Begin(fmt.Sprintf("QEMU lab %s", p.Lab)).Skip(fmt.Sprintf("already up (daemon pid %d)", id.Pid))
		return nil
	}
	if store.Exists() {
		step := rep.Begin(fmt.Sprintf("Removing what a previous lab:up of %s left", p.Lab))
		if err := step.Done(errors.Join(p.teardown(ctx, store, step), store.Remove())); err != nil {
			return err
		}
		if store, err = p.open(); err != nil {
			return err
		}
	}
	repo, err := filepath.Abs(p.RepoRoot)
	if err != nil {
		return fmt.Errorf("find the repository root: %w", err)
	}
	if err := store.Set(p.request(repo)); err != nil {
		return err
	}
	return daemon.Launch(ctx, repo, ProviderName, p.Dir(), rep)
}

func (p *Provider) daemonLog() string { return filepath.Join(p.Dir(), daemon.LogName) }

// Down implements provider.Provider: it stops the daemon (which stops its VMs and removes the
// network), stops any VM a killed daemon left from its pidfile, removes the network from the
// recorded names (or the lab name alone), and removes the lab directory. The caches stay.
func (p *Provider) Down(ctx context.Context, rep progress.Reporter) error {
	if err := requireRoot(); err != nil {
		return err
	}
	store, err := p.open()
	if err != nil {
		return err
	}
	step := rep.Begin(fmt.Sprintf("Removing QEMU lab %s", p.Lab))
	if _, err := os.Stat(p.Dir()); errors.Is(err, os.ErrNotExist) {
		step.Skip("no such lab")
		return nil
	}
	return step.Done(errors.Join(p.teardown(ctx, store, step), store.Remove()))
}

// teardown reads the state alone and undoes everything in reverse: daemon, VMs, processes,
// network. Every error is joined.
func (p *Provider) teardown(ctx context.Context, store *state.Store, step progress.Step) error {
	var errs []error
	if id, ok := daemon.Recorded(store); ok && id.Running() {
		step.Status("stopping the lab daemon (pid %d)", id.Pid)
		errs = append(errs, id.Terminate(ctx, daemonGrace))
	}
	for _, name := range NodeNames(NodeCount) {
		step.Status("stopping VM %s", name)
		errs = append(errs, stopFromPidfile(ctx, p.Dir(), name, store.Value(KeyNodeImage)))
	}
	// A daemon killed with SIGKILL takes its children along (Pdeathsig); this catches the rest.
	if _, err := process.Sweep(filepath.Join(p.Dir(), "run")); err != nil {
		errs = append(errs, err)
	}
	step.Status("removing the lab network")
	errs = append(errs, downNetwork(ctx, store, p.Lab))
	return errors.Join(errs...)
}

// Status implements provider.Provider.
func (p *Provider) Status(ctx context.Context) (provider.Status, error) {
	st := provider.Status{Name: p.Lab, Provider: ProviderName, Phase: "absent"}
	store, err := p.open()
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
	st.Components = append(st.Components, provider.Component{Name: "lab daemon", Running: running,
		Detail: fmt.Sprintf("pid %d, log %s", id.Pid, p.daemonLog())})
	if reg := store.Value(KeyRegistry); reg != "" {
		st.Components = append(st.Components, provider.Component{Name: "artifact registry", Running: running,
			Detail: fmt.Sprintf("%s (harness), %s (nodes), in the lab daemon", reg, store.Value(KeyClusterRegistry))})
	}
	plan, _ := recordedPlan(store) // a lab that failed before planning has no nodes to show
	for i, name := range NodeNames(NodeCount) {
		addr := "not planned yet"
		if i < len(plan.Nodes) {
			addr = plan.Nodes[i].Addr.String()
		}
		st.Nodes = append(st.Nodes, provider.Node{Name: name, Address: addr, Role: "control-plane"})
		paths := NodePaths(p.Dir(), name)
		pid, _ := runningQEMU(paths.Pidfile)
		st.Components = append(st.Components, provider.Component{Name: "VM " + name, Running: pid != 0,
			Detail: fmt.Sprintf("pid %d, %s %s, serial %s", pid, store.Value(KeyNodeImage), store.Value(KeyAccel), paths.Serial)})
	}
	return st, nil
}
