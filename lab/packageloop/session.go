package packageloop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/dynamic"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Options name the chart directory, the HelmRelease and the cluster of one loop command.
type Options struct {
	// ChartDir is the chart directory (the one with Chart.yaml).
	ChartDir string
	// Name and Namespace name the HelmRelease that installs the chart.
	Name, Namespace string
	// Config is the cluster; when nil it is loaded from Kubeconfig.
	Config *rest.Config
	// Kubeconfig is the kubeconfig file; empty means $KUBECONFIG, else ~/.kube/config.
	Kubeconfig string
}

// session is everything a command needs, loaded once: the cluster clients and the HelmRelease.
type session struct {
	opts    Options
	cfg     *rest.Config
	client  client.Client
	dynamic dynamic.Interface
	mapper  meta.RESTMapper
	disco   discovery.CachedDiscoveryInterface
	hr      *helmv2.HelmRelease
	target  Target
}

// scheme knows the built-in kinds and HelmRelease.
var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(s); err != nil {
		panic(err)
	}
	if err := helmv2.AddToScheme(s); err != nil {
		panic(err)
	}
	return s
}()

// open checks the options, connects and reads the live HelmRelease. Its errors are one line
// saying what to set.
func open(ctx context.Context, opts Options) (*session, error) {
	opts, err := opts.withNames()
	if err != nil {
		return nil, err
	}
	if opts.Name == "" || opts.Namespace == "" {
		return nil, errors.New("no HelmRelease named: set NAME and NAMESPACE (in the chart's Makefile or the environment)")
	}
	cfg := opts.Config
	if cfg == nil {
		if cfg, err = loadKubeconfig(opts.Kubeconfig); err != nil {
			return nil, err
		}
	}
	s := &session{opts: opts, cfg: cfg}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Host, err)
	}
	s.disco = memory.NewMemCacheClient(dc)
	s.mapper = restmapper.NewDeferredDiscoveryRESTMapper(s.disco)
	if s.client, err = client.New(cfg, client.Options{Scheme: scheme, Mapper: s.mapper}); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Host, err)
	}
	if s.dynamic, err = dynamic.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", cfg.Host, err)
	}
	s.hr = &helmv2.HelmRelease{}
	if err := s.client.Get(ctx, client.ObjectKey{Namespace: opts.Namespace, Name: opts.Name}, s.hr); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil, fmt.Errorf("no HelmRelease %s/%s in the cluster at %s: check NAME and NAMESPACE, or install the package first", opts.Namespace, opts.Name, cfg.Host)
		}
		return nil, fmt.Errorf("get HelmRelease %s/%s from %s: %w", opts.Namespace, opts.Name, cfg.Host, err)
	}
	s.target = TargetOf(s.hr)
	return s, nil
}

// loadKubeconfig reads path, or $KUBECONFIG, or ~/.kube/config.
func loadKubeconfig(path string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if path != "" {
		rules.ExplicitPath = path
	} else {
		found := false
		for _, p := range rules.GetLoadingPrecedence() {
			if _, err := os.Stat(p); err == nil {
				found = true
			}
		}
		if !found {
			return nil, errors.New("no kubeconfig: set KUBECONFIG or write ~/.kube/config (the lab exports KUBECONFIG for its cluster)")
		}
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig (set KUBECONFIG to a valid file): %w", err)
	}
	return cfg, nil
}

// loadChart loads the chart directory with the HelmRelease's values files as its defaults, and
// fails when a declared dependency is missing from charts/.
func (s *session) loadChart() (*chart.Chart, error) {
	dir := s.opts.ChartDir
	if dir == "" {
		return nil, errors.New("no chart directory: set COZYLAB_CHART_DIR or run from the chart directory through its Makefile")
	}
	if _, err := os.Stat(filepath.Join(dir, "Chart.yaml")); err != nil {
		return nil, fmt.Errorf("no chart in %s: run from a chart directory (one with Chart.yaml)", dir)
	}
	ch, err := loader.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	if err := action.CheckDependencies(ch, ch.Metadata.Dependencies); err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	if err := ApplyValuesFiles(ch, dir, ValuesFiles(s.hr)); err != nil {
		return nil, fmt.Errorf("load chart %s: %w", dir, err)
	}
	return ch, nil
}

// helmConfig is a Helm action configuration keeping release Secrets in the storage namespace
// and putting objects in the target namespace.
func (s *session) helmConfig() (*action.Configuration, error) {
	cfg := new(action.Configuration)
	getter := &restGetter{cfg: s.cfg, namespace: s.target.Namespace, disco: s.disco, mapper: s.mapper}
	if err := cfg.Init(getter, s.target.StorageNamespace, "secret", func(string, ...any) {}); err != nil {
		return nil, fmt.Errorf("set up Helm for %s/%s: %w", s.target.StorageNamespace, s.target.ReleaseName, err)
	}
	return cfg, nil
}
