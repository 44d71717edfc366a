package local

import (
	"context"
	"errors"
	"fmt"
	"github.com/cozylab/cozylab/internal/atomicfile"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/controlplane"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local/sourcewatcher"
	"github.com/cozylab/cozylab/lab/local/webhooks"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/lab/state"
	"github.com/cozylab/cozylab/packages"
)

// Names of the local lab's actions, in order; kept ones are marked.
const (
	ActionBinaries     = "Checking the binaries cache"
	ActionControlPlane = "Starting the control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler)"
	ActionKwok         = "Starting kwok"
	ActionNodes        = "Registering the simulated nodes" // kept: Node objects live in etcd
	ActionNodesReady   = "Waiting for the nodes Ready"
	ActionFluxCRDs     = "Installing the Flux CRDs" // kept: CRDs live in etcd
	ActionFlux         = "Starting Flux source-controller and helm-controller"
	ActionRegistry     = "Starting the artifact registry"
	ActionControllers  = "Starting the source-watcher stand-in and the operator runner"
	// ActionRelaxer is the only in-process controller of a lab with a real node, and only
	// with LAB_SIMULATED_WEBHOOKS=ignore: the operator and Flux (with the source-watcher
	// stand-in) run there as pods.
	ActionRelaxer       = "Starting the simulated-webhooks controller"
	controlPlaneDirName = "cp"
)

// facts is what the local lab records in its state: the addresses its servers listen on. The
// harness pushes to Registry; the cluster's objects name the others (artifact URLs), so a
// resumed lab listens on them again when they are free.
type facts struct {
	// Registry is the artifact registry's host:port; Artifacts the source-watcher stand-in's.
	Registry  string `json:"registry,omitempty"`
	Artifacts string `json:"artifacts,omitempty"`
	// Flux are source-controller's storage, metrics and health and helm-controller's metrics
	// and health addresses.
	Flux []string `json:"flux,omitempty"`
	// Page is the lab page's URL.
	Page string `json:"page,omitempty"`
	// Node is the real node's plan (network, cgroup root), recorded before anything of it exists.
	Node *realnode.Plan `json:"node,omitempty"`
}

func (l *lab) facts() (facts, error) { return state.LoadFacts[facts](l.store) }

// lab is one run of the local lab's daemon: what the actions made, for the later actions and
// the stop.
type lab struct {
	store   *state.Store
	rep     progress.Reporter
	cache   *bincache.Cache
	nodes   []Node
	paths   map[string]string
	cluster *Cluster
	reg     *registry.Registry
	real    bool           // the lab runs a real node (Request.RealNode)
	relax   bool           // webhooks only simulated pods serve are set to Ignore (Request.IgnoreSimulatedWebhooks)
	plan    *realnode.Plan // the real node's; nil in a kwok-only lab
	mgrDone chan error
	stops   []func(context.Context) error
}

// Run is the local lab's daemon (provider.RunFunc): the control plane on etcd data kept in the
// lab directory, kwok and the simulated nodes, the Flux CRDs, the artifact registry and the
// real node with its images, CoreDNS and the placement webhook; in a kwok-only lab, in place of
// the real node, source-controller, helm-controller, the source-watcher stand-in and the
// operator runner as host processes.
// It calls ready once everything answers and runs until ctx ends; then it stops every process
// it started. The control plane's credentials and etcd's data stay for the next up.
func Run(ctx context.Context, store *state.Store, rep progress.Reporter, ready func() error) (err error) {
	l := &lab{store: store, rep: rep, cache: &bincache.Cache{Progress: rep}, nodes: DefaultNodes, real: store.Request().RealNode(),
		relax: store.Request().IgnoreSimulatedWebhooks}
	defer func() {
		for i := len(l.stops) - 1; i >= 0; i-- {
			err = errors.Join(err, l.stops[i](context.WithoutCancel(ctx)))
		}
	}()
	if store.Request().IgnoreSimulatedWebhooks {
		rep.Begin("Simulated webhooks: failurePolicy Ignore").Skip("LAB_SIMULATED_WEBHOOKS=ignore: webhooks only simulated pods serve are set to Ignore, each named in the output and in the annotation " + webhooks.Annotation)
	}
	if err := provider.RunActions(ctx, store, rep, l.actions()); err != nil {
		return err
	}
	if err := ready(); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-l.mgrDone:
		l.mgrDone = nil
		return fmt.Errorf("lab controllers stopped: %w", err)
	}
}

// actions is the local lab's bring-up, in order.
func (l *lab) actions() []provider.Action {
	real := l.real
	var out []provider.Action
	add := func(when bool, a provider.Action) {
		if when {
			out = append(out, a)
		}
	}
	add(true, provider.Action{Name: ActionBinaries, Run: l.ensureBinaries})
	add(real, provider.Action{Name: ActionNodeNetwork, Run: l.prepareNode})
	add(true, provider.Action{Name: ActionControlPlane, Run: l.startControlPlane})
	add(true, provider.Action{Name: ActionKwok, Run: l.startKwok})
	add(true, provider.Action{Name: ActionNodes, Run: l.registerNodes, Keep: l.nodesExist})
	add(true, provider.Action{Name: ActionNodesReady, Run: l.waitNodes})
	add(true, provider.Action{Name: ActionFluxCRDs, Run: l.installFluxCRDs, Keep: l.fluxCRDsEstablished})
	// With a real node, Flux runs there: the operator installs it as in any cluster.
	add(!real, provider.Action{Name: ActionFlux, Run: l.startFlux})
	add(true, provider.Action{Name: ActionRegistry, Run: l.startRegistry})
	add(real, provider.Action{Name: ActionImages, Run: l.buildImages})
	add(real, provider.Action{Name: ActionRealNode, Run: l.startRealNode})
	add(real, provider.Action{Name: ActionDNS, Run: l.startDNS})
	add(real, provider.Action{Name: ActionPlacement, Run: l.startPlacement})
	add(!real, provider.Action{Name: ActionControllers, Run: l.startControllers})
	add(real && l.relax, provider.Action{Name: ActionRelaxer, Run: l.startControllers})
	add(true, provider.Action{Name: ActionPage, Run: l.startPage})
	return out
}

func (l *lab) dir() string { return l.store.Dir() }

// Tools names the binaries cache's tools a local lab runs as processes: with a real node, or
// kwok only.
func Tools(real bool) []string {
	tools := []string{bincache.Etcd, bincache.KubeAPIServer, bincache.KubeControllerManager,
		bincache.KubeScheduler, bincache.Kwok}
	if real {
		// The Flux controllers come in the images (ActionImages), which ensure their binaries.
		return append(tools, bincache.Kubelet, bincache.KubeProxy)
	}
	return append(tools, bincache.SourceController, bincache.HelmController)
}

func (l *lab) ensureBinaries(ctx context.Context, step progress.Step) error {
	paths, err := l.cache.Ensure(ctx, Tools(l.real)...)
	l.paths = paths
	return err
}

// startControlPlane starts etcd (on the data an earlier up left, if any), kube-apiserver,
// kube-controller-manager and kube-scheduler, and writes the lab's kubeconfig.
func (l *lab) startControlPlane(ctx context.Context, step progress.Step) error {
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Dir: filepath.Join(l.dir(), controlPlaneDirName), Address: l.apiAddress(),
		Etcd: l.paths[bincache.Etcd], APIServer: l.paths[bincache.KubeAPIServer],
		ControllerManager: l.paths[bincache.KubeControllerManager], Scheduler: l.paths[bincache.KubeScheduler],
		ReadyTimeout: 2 * time.Minute, Progress: progress.Discard,
	})
	if err != nil {
		return err
	}
	l.cluster = &Cluster{ControlPlane: cp, Nodes: l.nodes}
	l.stops = append(l.stops, cp.Stop)
	step.Status("API server at %s", cp.URL)
	return copyFile(cp.Kubeconfig, filepath.Join(l.dir(), "kubeconfig"))
}

func (l *lab) startKwok(_ context.Context, _ progress.Step) error {
	return l.cluster.startKwok(l.paths[bincache.Kwok])
}

func (l *lab) registerNodes(ctx context.Context, step progress.Step) error {
	step.Status("%d nodes", len(l.nodes))
	return l.cluster.registerNodes(ctx)
}

func (l *lab) nodesExist(ctx context.Context) error { return l.cluster.nodesExist(ctx) }

func (l *lab) waitNodes(ctx context.Context, step progress.Step) error {
	return waitNodesReady(ctx, l.cluster.RESTConfig(), names(l.nodes), 2*time.Minute, step)
}

// fluxCRDs are the Flux CRDs the local lab installs: the operator's generated ones, as
// packages/core/flux-aio carries them.
var fluxCRDs = []string{"core/flux-aio/crds/*.yaml"}

// crdBound bounds the wait for the Flux CRDs to be served: seconds on an idle host, more than
// a minute on a loaded CI host (a wait of one minute ran out there).
const crdBound = 3 * time.Minute

func (l *lab) installFluxCRDs(ctx context.Context, step progress.Step) error {
	return controlplane.InstallCRDs(ctx, l.cluster.RESTConfig(), packages.FS, fluxCRDs, step, crdBound)
}

func (l *lab) fluxCRDsEstablished(ctx context.Context) error {
	return controlplane.CRDsEstablished(ctx, l.cluster.RESTConfig(), packages.FS, fluxCRDs)
}

// startFlux starts source-controller and helm-controller and waits for their readiness.
func (l *lab) startFlux(ctx context.Context, step progress.Step) error {
	f, err := l.facts()
	if err != nil {
		return err
	}
	addrs, err := LoopbackAddrs(5, f.Flux...)
	if err != nil {
		return err
	}
	if err := state.UpdateFacts(l.store, func(f *facts) { f.Flux = addrs }); err != nil {
		return err
	}
	storage := filepath.Join(l.dir(), "flux-storage")
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return fmt.Errorf("create Flux storage: %w", err)
	}
	c := l.cluster
	src, err := c.StartProcess(SourceControllerSpec(l.paths[bincache.SourceController], c.Kubeconfig, storage,
		FluxAddrs{Storage: addrs[0], Metrics: addrs[1], Health: addrs[2]}))
	if err != nil {
		return err
	}
	helm, err := c.StartProcess(HelmControllerSpec(l.paths[bincache.HelmController], c.Kubeconfig,
		FluxAddrs{Metrics: addrs[3], Health: addrs[4]}))
	if err != nil {
		return err
	}
	poll := condition.Poll{Interval: 100 * time.Millisecond, Timeout: 2 * time.Minute, AttemptTimeout: 5 * time.Second}
	return condition.WaitAll(ctx, []condition.Condition{Readyz(src, addrs[2]), Readyz(helm, addrs[4])}, poll, condition.StepReporter(step))
}

func (l *lab) startRegistry(_ context.Context, step progress.Step) error {
	f, err := l.facts()
	if err != nil {
		return err
	}
	reg, err := registry.Start(registry.Options{Addr: l.registryAddr(), Prefer: f.Registry})
	if err != nil {
		return err
	}
	l.reg = reg
	l.stops = append(l.stops, func(context.Context) error { return reg.Close() })
	step.Status("%s", reg.Addr())
	return state.UpdateFacts(l.store, func(f *facts) { f.Registry = reg.Addr() })
}

// startControllers runs the in-process controllers: in a lab without a real node, the
// source-watcher stand-in and the operator runner (with one, both run there in pods), and with
// LAB_SIMULATED_WEBHOOKS=ignore, the relaxer.
func (l *lab) startControllers(ctx context.Context, step progress.Step) error {
	c := l.cluster
	mgr, err := ctrl.NewManager(c.RESTConfig(), ctrl.Options{
		Scheme: runtime.NewScheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		return fmt.Errorf("create controller manager: %w", err)
	}
	var sw *sourcewatcher.Reconciler
	if !l.real {
		f, err := l.facts()
		if err != nil {
			return err
		}
		sw = sourcewatcher.New(sourcewatcher.Options{Addr: "127.0.0.1:0", Prefer: strings.TrimPrefix(f.Artifacts, "http://"),
			StorageDir: filepath.Join(l.dir(), "artifacts")})
		if err := sw.SetupWithManager(mgr); err != nil {
			return err
		}
		cs, err := kubernetes.NewForConfig(c.RESTConfig())
		if err != nil {
			return fmt.Errorf("create client: %w", err)
		}
		runner := &OperatorRunner{Client: cs, Start: c.StartProcess, Dir: filepath.Join(l.dir(), "operator"),
			Kubeconfig: filepath.Join(l.dir(), "kubeconfig"), Progress: l.rep}
		if err := mgr.Add(runnable(runner.Run)); err != nil {
			return fmt.Errorf("add operator runner: %w", err)
		}
	}
	if l.relax {
		relaxer := &webhooks.Relaxer{Client: mgr.GetClient(), Report: func(kind, name string, hooks []string) {
			l.rep.Begin(fmt.Sprintf("%s %s: failurePolicy Ignore", kind, name)).
				Skip(fmt.Sprintf("%s: served only by simulated pods", strings.Join(hooks, ", ")))
		}}
		if err := relaxer.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("set up the simulated-webhooks controller: %w", err)
		}
	}
	// The manager runs until the daemon's context ends; the stop waits for it.
	mgrCtx, stopMgr := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mgrCtx) }()
	l.mgrDone = done
	l.stops = append(l.stops, func(context.Context) error {
		stopMgr()
		if l.mgrDone == nil {
			return nil // already ended, and reported
		}
		return <-done
	})
	if sw == nil {
		return nil
	}
	step.Status("artifacts at %s", sw.URL())
	return state.UpdateFacts(l.store, func(f *facts) { f.Artifacts = sw.URL() })
}

type runnable func(context.Context) error

func (r runnable) Start(ctx context.Context) error { return r(ctx) }

// copyFile copies a kubeconfig (credentials: 0600) atomically.
func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	return atomicfile.WriteFile(to, data, 0o600)
}
