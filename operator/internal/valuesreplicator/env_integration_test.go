//go:build integration

package valuesreplicator

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/internal/optest"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

const waitFor = 10 * time.Second

// env is one API server, a direct client and a replicator under a real manager.
type env struct {
	t   *testing.T
	ctx context.Context
	cfg *rest.Config
	c   client.Client

	done *counter // successful Reconciles per namespace
}

type counter struct {
	mu sync.Mutex
	n  map[string]int
}

// in returns e reporting failures to t, for use inside t.Run.
func (e *env) in(t *testing.T) *env {
	c := *e
	c.t = t
	return &c
}

func newEnv(t *testing.T) *env {
	t.Helper()
	cfg := cptest.Config(t)
	cfg.QPS, cfg.Burst = 200, 400 // the tests poll; client-side throttling would only slow them
	c, err := client.New(cfg, client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	return &env{t: t, ctx: context.Background(), cfg: cfg, c: c, done: &counter{n: map[string]int{}}}
}

func (e *env) start(r *Reconciler) {
	e.t.Helper()
	r.reconciled = func(req ctrl.Request) {
		e.done.mu.Lock()
		defer e.done.mu.Unlock()
		e.done.n[req.Namespace]++
	}
	optest.StartManager(e.t, e.cfg, func(_ context.Context, mgr ctrl.Manager) error { return r.SetupWithManager(mgr) })
}

// reconciles returns how many Reconciles of namespace succeeded so far.
func (e *env) reconciles(namespace string) int {
	e.done.mu.Lock()
	defer e.done.mu.Unlock()
	return e.done.n[namespace]
}

// waitReconciled waits for a Reconcile of namespace beyond the first after reconciles.
func (e *env) waitReconciled(namespace string, after int) {
	e.t.Helper()
	require.Eventually(e.t, func() bool { return e.reconciles(namespace) > after }, waitFor, 10*time.Millisecond,
		"a Reconcile of namespace %s", namespace)
}

func (e *env) namespace(name string, labels map[string]string) {
	e.t.Helper()
	require.NoError(e.t, e.c.Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}))
}

func (e *env) setNamespaceLabels(name string, labels map[string]string) {
	e.t.Helper()
	ns := &corev1.Namespace{}
	require.NoError(e.t, e.c.Get(e.ctx, client.ObjectKey{Name: name}, ns))
	ns.Labels = labels
	require.NoError(e.t, e.c.Update(e.ctx, ns))
}

func (e *env) secret(namespace, name string) *corev1.Secret {
	e.t.Helper()
	s := &corev1.Secret{}
	err := e.c.Get(e.ctx, client.ObjectKey{Namespace: namespace, Name: name}, s)
	if apierrors.IsNotFound(err) {
		return nil
	}
	require.NoError(e.t, err)
	return s
}

// waitSecret waits until the Secret namespace/name satisfies ok (which gets nil when absent).
func (e *env) waitSecret(namespace, name, what string, ok func(*corev1.Secret) bool) *corev1.Secret {
	e.t.Helper()
	var s *corev1.Secret
	require.Eventually(e.t, func() bool {
		s = e.secret(namespace, name)
		return ok(s)
	}, waitFor, 20*time.Millisecond, "Secret %s/%s %s", namespace, name, what)
	return s
}

// waitGone waits until the Secret namespace/name does not exist.
func (e *env) waitGone(namespace, name string) {
	e.t.Helper()
	e.waitSecret(namespace, name, "is deleted", func(s *corev1.Secret) bool { return s == nil })
}

// waitData waits until the Secret namespace/name exists with exactly data.
func (e *env) waitData(namespace, name string, data map[string]string) *corev1.Secret {
	e.t.Helper()
	return e.waitSecret(namespace, name, "holds the source's data", func(s *corev1.Secret) bool {
		return s != nil && assert.ObjectsAreEqual(bytes(data), s.Data)
	})
}

func bytes(m map[string]string) map[string][]byte {
	out := make(map[string][]byte, len(m))
	for k, v := range m {
		out[k] = []byte(v)
	}
	return out
}
