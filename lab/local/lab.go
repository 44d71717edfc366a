package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
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
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/packages"
)

// Keys of the values the lab records in its state.
const (
	KeyKubeconfig = "kubeconfig"
	KeyRegistry   = "registry"
	KeyArtifacts  = "artifacts"
)

// LabOptions configure RunLab.
type LabOptions struct {
	// Dir is the lab's state directory: run directories, logs, kubeconfig, artifacts.
	Dir string
	// Nodes to simulate; DefaultNodes when empty.
	Nodes []Node
	// Cache provides the binaries; the default cache when nil.
	Cache *bincache.Cache
	// Progress receives the steps.
	Progress progress.Reporter
	// Ready is called once the lab is up, with the values to record.
	Ready func(values map[string]string) error
}

// RunLab brings the local lab up — control plane, kwok nodes, Flux CRDs, source-controller,
// helm-controller, the source-watcher stand-in, the artifact registry and the operator runner —
// calls Ready, and keeps it running until ctx ends; then it stops everything it started. When a
// step fails it stops what was started and returns the error.
func RunLab(ctx context.Context, o LabOptions) (err error) {
	if o.Cache == nil {
		o.Cache = &bincache.Cache{Progress: o.Progress}
	}
	var stops []func(context.Context) error
	defer func() {
		for i := len(stops) - 1; i >= 0; i-- {
			err = errors.Join(err, stops[i](context.WithoutCancel(ctx)))
		}
	}()
	c, err := StartCluster(ctx, ClusterOptions{Root: filepath.Join(o.Dir, "run"), Nodes: o.Nodes, Cache: o.Cache, Progress: o.Progress})
	if err != nil {
		return err
	}
	stops = append(stops, c.Stop)
	kubeconfig := filepath.Join(o.Dir, "kubeconfig")
	if err := copyFile(c.Kubeconfig, kubeconfig); err != nil {
		return err
	}
	if err := startFlux(ctx, c, o); err != nil {
		return err
	}
	reg, err := registry.Start(registry.Options{})
	if err != nil {
		return err
	}
	stops = append(stops, func(context.Context) error { return reg.Close() })
	mgrCtx, stopMgr := context.WithCancel(ctx)
	mgrDone, artifacts, err := startControllers(mgrCtx, c, o, kubeconfig)
	if err != nil {
		stopMgr()
		return err
	}
	stops = append(stops, func(context.Context) error {
		stopMgr()
		if mgrDone == nil {
			return nil // already ended, and reported
		}
		return <-mgrDone
	})
	if err := o.Ready(map[string]string{KeyKubeconfig: kubeconfig, KeyRegistry: reg.Addr(), KeyArtifacts: artifacts}); err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return nil
	case err := <-mgrDone:
		mgrDone = nil
		return fmt.Errorf("lab controllers stopped: %w", err)
	}
}

// startFlux installs the Flux CRDs and starts source-controller and helm-controller.
func startFlux(ctx context.Context, c *Cluster, o LabOptions) error {
	step := o.Progress.Begin("Installing the Flux CRDs")
	if err := step.Done(controlplane.InstallCRDs(ctx, c.RESTConfig(), packages.FS, []string{"core/flux-aio/crds/*.yaml"}, step, time.Minute)); err != nil {
		return err
	}
	paths, err := o.Cache.Ensure(ctx, bincache.SourceController, bincache.HelmController)
	if err != nil {
		return err
	}
	step = o.Progress.Begin("Starting Flux source-controller and helm-controller")
	addrs, err := LoopbackAddrs(5)
	if err != nil {
		return step.Done(err)
	}
	storage := filepath.Join(o.Dir, "flux-storage")
	if err := os.MkdirAll(storage, 0o700); err != nil {
		return step.Done(fmt.Errorf("create Flux storage: %w", err))
	}
	src, err := c.StartProcess(SourceControllerSpec(paths[bincache.SourceController], c.Kubeconfig, storage,
		FluxAddrs{Storage: addrs[0], Metrics: addrs[1], Health: addrs[2]}))
	if err != nil {
		return step.Done(err)
	}
	helm, err := c.StartProcess(HelmControllerSpec(paths[bincache.HelmController], c.Kubeconfig,
		FluxAddrs{Metrics: addrs[3], Health: addrs[4]}))
	if err != nil {
		return step.Done(err)
	}
	for _, cond := range []condition.Condition{Readyz(src, addrs[2]), Readyz(helm, addrs[4])} {
		if err := condition.Poll(ctx, step, cond, 100*time.Millisecond, 2*time.Minute); err != nil {
			return step.Done(err)
		}
	}
	return step.Done(nil)
}

// startControllers runs the in-process controllers: the source-watcher stand-in and the
// operator runner. The channel yields the manager's end once.
func startControllers(ctx context.Context, c *Cluster, o LabOptions, kubeconfig string) (chan error, string, error) {
	step := o.Progress.Begin("Starting the source-watcher stand-in and the operator runner")
	mgr, err := ctrl.NewManager(c.RESTConfig(), ctrl.Options{
		Scheme: runtime.NewScheme(), Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0",
	})
	if err != nil {
		return nil, "", step.Done(fmt.Errorf("create controller manager: %w", err))
	}
	sw := sourcewatcher.New(sourcewatcher.Options{Addr: "127.0.0.1:0", StorageDir: filepath.Join(o.Dir, "artifacts")})
	if err := sw.SetupWithManager(mgr); err != nil {
		return nil, "", step.Done(err)
	}
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return nil, "", step.Done(fmt.Errorf("create client: %w", err))
	}
	runner := &OperatorRunner{Client: cs, Start: c.StartProcess, Dir: filepath.Join(o.Dir, "operator"), Kubeconfig: kubeconfig, Progress: o.Progress}
	if err := mgr.Add(runnable(runner.Run)); err != nil {
		return nil, "", step.Done(fmt.Errorf("add operator runner: %w", err))
	}
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	return done, sw.URL(), step.Done(nil)
}

type runnable func(context.Context) error

func (r runnable) Start(ctx context.Context) error { return r(ctx) }

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if err := os.WriteFile(to+".tmp", data, 0o600); err != nil {
		return fmt.Errorf("write %s: %w", to, err)
	}
	return os.Rename(to+".tmp", to)
}
