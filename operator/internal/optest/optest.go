// Package optest is the operator's test harness: a real API server (internal/controlplane/cptest)
// with the operator's and Flux's CRDs installed and cozy-system created, a real controller-runtime
// manager to run controllers in, and golden-file comparison. Only _test.go files import it.
package optest

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/crds"
	fluxcrds "github.com/cozylab/cozylab/operator/flux/crds"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

var update = flag.Bool("update", false, "rewrite golden files")

// Cluster is a prepared API server.
type Cluster struct {
	Config *rest.Config
	Client client.WithWatch
}

// NewCluster prepares cfg (a fresh API server from cptest when nil): cozystack and Flux CRDs
// installed and discoverable, namespace cozy-system created.
func NewCluster(t testing.TB, cfg *rest.Config) *Cluster {
	t.Helper()
	if cfg == nil {
		cfg = cptest.Config(t)
	}
	ctx := context.Background()
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	require.NoError(t, install.CRDs(ctx, c, crds.FS, crds.Operator, time.Minute))
	require.NoError(t, install.CRDs(ctx, c, fluxcrds.FS, nil, time.Minute))
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cozy-system"}}))
	return &Cluster{Config: cfg, Client: c}
}

// Run starts a manager on the cluster with the controllers setup registers, and stops it when
// t ends.
func (cl *Cluster) Run(t testing.TB, setup func(ctx context.Context, mgr ctrl.Manager) error) {
	t.Helper()
	StartManager(t, cl.Config, setup)
}

// StartManager starts a controller-runtime manager on cfg (logging to t) with the controllers
// setup registers. The returned stop ends it and checks it stopped cleanly; it runs at the end
// of t too, and only once. Controller name validation is off: every test runs its own manager
// in one process.
func StartManager(t testing.TB, cfg *rest.Config, setup func(ctx context.Context, mgr ctrl.Manager) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme.Must(), Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Logger: testr.NewWithInterface(t, testr.Options{}), Controller: config.Controller{SkipNameValidation: &skip}})
	require.NoError(t, err)
	require.NoError(t, setup(ctx, mgr))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	stop = sync.OnceFunc(func() { cancel(); assert.NoError(t, <-done) })
	t.Cleanup(stop)
	return stop
}

// Golden compares got, as YAML, with testdata/<name>.golden.yaml; `-update` rewrites the file.
func Golden(t testing.TB, name string, got any) {
	t.Helper()
	raw, err := yaml.Marshal(got)
	require.NoError(t, err)
	path := filepath.Join("testdata", name+".golden.yaml")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, raw, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test with -update to create %s", path)
	assert.Equal(t, string(want), string(raw))
}
