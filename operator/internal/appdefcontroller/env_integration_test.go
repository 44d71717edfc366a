//go:build integration

package appdefcontroller

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	clocktesting "k8s.io/utils/clock/testing"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/crds"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/optest"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

const window = 300 * time.Millisecond // real time between evaluations while the fake clock stands still

// env is one API server with the ApplicationDefinition CRD and a direct client.
type env struct {
	t   *testing.T
	ctx context.Context
	cfg *rest.Config
	c   client.Client
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := cptest.Config(t)
	cfg.QPS, cfg.Burst = 200, 400 // the tests poll; client-side throttling would only slow them
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	ctx := context.Background()
	require.NoError(t, install.CRDs(ctx, c, crds.FS, []string{"cozystack.io_applicationdefinitions.yaml"}, time.Minute))
	require.Eventually(t, func() bool { return c.List(ctx, &v1alpha1.ApplicationDefinitionList{}) == nil },
		10*time.Second, 50*time.Millisecond, "the ApplicationDefinition API is discoverable")
	return &env{t: t, ctx: ctx, cfg: cfg, c: c}
}

// run is a Reconciler under a real manager, with a frozen clock and a record of evaluations.
type run struct {
	*Reconciler
	clock    *clocktesting.FakePassiveClock
	mu       sync.Mutex
	outcomes []outcome
	stop     func()
}

func (e *env) start() *run {
	e.t.Helper()
	r := &run{clock: clocktesting.NewFakePassiveClock(time.Unix(1_000_000, 0))}
	r.Reconciler = &Reconciler{Debounce: window, Clock: r.clock}
	r.observe = func(o outcome) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.outcomes = append(r.outcomes, o)
	}
	r.stop = optest.StartManager(e.t, e.cfg, func(_ context.Context, mgr ctrl.Manager) error { return r.SetupWithManager(mgr) })
	return r
}

// settle waits until at least n definition changes were seen, then lets the window pass.
func (r *run) settle(t *testing.T, n uint64) {
	t.Helper()
	require.Eventually(t, func() bool { return r.changes.changes() >= n }, 10*time.Second, 10*time.Millisecond,
		"the controller sees %d definition changes", n)
	r.clock.SetTime(r.clock.Now().Add(window))
}

// waitOutcome waits for an evaluation that started after seq changes and returns it.
func (r *run) waitOutcome(t *testing.T, seq uint64) outcome {
	t.Helper()
	return r.wait(t, seq, func(o outcome) bool { return o.action != deferred })
}

// waitDeferred waits until a Reconcile after seq changes was held back by the window: had
// the debounce been broken, that Reconcile would have written instead.
func (r *run) waitDeferred(t *testing.T, seq uint64) {
	t.Helper()
	r.wait(t, seq, func(o outcome) bool { return o.action == deferred })
}

func (r *run) wait(t *testing.T, seq uint64, match func(outcome) bool) outcome {
	t.Helper()
	var got outcome
	require.Eventually(t, func() bool {
		r.mu.Lock()
		defer r.mu.Unlock()
		i := slices.IndexFunc(r.outcomes, func(o outcome) bool { return o.seq >= seq && match(o) })
		if i >= 0 {
			got = r.outcomes[i]
		}
		return i >= 0
	}, 10*time.Second, 10*time.Millisecond, "a matching Reconcile after %d changes", seq)
	return got
}

func newDefinition(name, schema string) *v1alpha1.ApplicationDefinition {
	return &v1alpha1.ApplicationDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ApplicationDefinitionSpec{
			Application: v1alpha1.ApplicationDefinitionApplication{Kind: "K" + name, OpenAPISchema: schema, Plural: name + "s", Singular: name},
			Release: v1alpha1.ApplicationDefinitionRelease{
				ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: name, Namespace: "cozy-system"},
				Prefix:   name + "-",
			},
		},
	}
}

func (e *env) createDefinitions(names ...string) {
	e.t.Helper()
	for _, n := range names {
		require.NoError(e.t, e.c.Create(e.ctx, newDefinition(n, "{}")))
	}
}

func (e *env) setSchema(name, schema string) {
	e.t.Helper()
	d := &v1alpha1.ApplicationDefinition{}
	require.NoError(e.t, e.c.Get(e.ctx, client.ObjectKey{Name: name}, d))
	d.Spec.Application.OpenAPISchema = schema
	require.NoError(e.t, e.c.Update(e.ctx, d))
}

func (e *env) createDeployment() {
	e.t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: v1alpha1.SystemNamespace}}
	if err := e.c.Create(e.ctx, ns); !apierrors.IsAlreadyExists(err) {
		require.NoError(e.t, err)
	}
	labels := map[string]string{"app": DefaultDeploymentName}
	require.NoError(e.t, e.c.Create(e.ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: DefaultDeploymentName, Namespace: v1alpha1.SystemNamespace},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "example.invalid/cozystack-api:1"}}},
			},
		},
	}))
}

func (e *env) deployment() *appsv1.Deployment {
	e.t.Helper()
	d := &appsv1.Deployment{}
	require.NoError(e.t, e.c.Get(e.ctx, client.ObjectKey{Namespace: v1alpha1.SystemNamespace, Name: DefaultDeploymentName}, d))
	return d
}

// wantHash is the hash of the definitions on the server now.
func (e *env) wantHash() string {
	e.t.Helper()
	list := &v1alpha1.ApplicationDefinitionList{}
	require.NoError(e.t, e.c.List(e.ctx, list))
	h, err := ConfigHash(list.Items)
	require.NoError(e.t, err)
	return h
}

// waitHash waits until the pod template carries want and returns the Deployment.
func (e *env) waitHash(want string) *appsv1.Deployment {
	e.t.Helper()
	var d *appsv1.Deployment
	require.Eventually(e.t, func() bool {
		d = e.deployment()
		return configHash(d) == want
	}, 10*time.Second, 20*time.Millisecond, "the pod template carries hash %s", want)
	return d
}
