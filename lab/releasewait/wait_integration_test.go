//go:build integration

package releasewait

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/internal/progress"
)

// helmReleaseCRD is read from disk: lab/ may not import the operator's CRD embed.
const helmReleaseCRD = "../../operator/flux/crds/helm.toolkit.fluxcd.io_helmreleases.yaml"

// TestWait plays helm-controller: it creates HelmReleases and writes their status while Wait
// watches, and follows Wait's progress lines to order its moves.
func TestWait(t *testing.T) {
	cfg := cptest.Config(t)
	c := newClient(t, cfg)
	cptest.InstallCRDFiles(t, cfg, helmReleaseCRD)

	t.Run("discovers releases over time and ends after the last turns Ready", func(t *testing.T) {
		ns := namespace(t, c, "discover")
		// A settle period of 1ns has always run out by the time b turns Ready, so Wait must end
		// on that event itself, not on a timer.
		w := startWait(t, cfg, Options{Namespace: ns, MinReleases: 2, Settle: time.Nanosecond})

		w.await(t, "HelmReleases ready 0/0 — waiting for at least 2")
		create(t, c, ns, "a", nil)
		w.await(t, "HelmReleases ready 0/1 — waiting on "+ns+"/a: NotReconciled")
		setReady(t, c, ns, "a", metav1.ConditionTrue, helmv2.InstallSucceededReason, "Helm install succeeded")
		w.await(t, "HelmReleases ready 1/1 — waiting for at least 2")
		create(t, c, ns, "b", nil)
		w.await(t, "HelmReleases ready 1/2 — waiting on "+ns+"/b")
		setReady(t, c, ns, "b", metav1.ConditionFalse, helmv2.DependencyNotReadyReason, "dependency '"+ns+"/a' is not ready")
		w.await(t, "waiting on "+ns+"/b: DependencyNotReady: dependency")
		w.requireRunning(t)

		setReady(t, c, ns, "b", metav1.ConditionTrue, helmv2.InstallSucceededReason, "Helm install succeeded")
		res, err := w.result(t)
		require.NoError(t, err)
		require.Len(t, res.Releases, 2)
		assert.Equal(t, []string{"a", "b"}, []string{res.Releases[0].Name, res.Releases[1].Name})
		assert.False(t, res.Releases[1].ReadyAt.Before(res.Releases[0].ReadyAt))
		assert.Equal(t, []string{"HelmReleases ready 2/2"}, w.rest(), "b's Ready event ended the wait, no settling")
	})

	t.Run("a release failing past FailAfter fails the wait naming it", func(t *testing.T) {
		ns := namespace(t, c, "failing")
		create(t, c, ns, "ok", nil)
		setReady(t, c, ns, "ok", metav1.ConditionTrue, helmv2.InstallSucceededReason, "")
		create(t, c, ns, "broken", nil)
		setReady(t, c, ns, "broken", metav1.ConditionFalse, helmv2.InstallFailedReason, "Helm install failed: template: boom")
		w := startWait(t, cfg, Options{Namespace: ns, FailAfter: 300 * time.Millisecond})
		_, err := w.result(t)
		require.Error(t, err)
		assert.Regexp(t, `^wait for HelmReleases: HelmRelease `+ns+`/broken failing for [0-9.]+m?s: InstallFailed: Helm install failed: template: boom$`, err.Error())
		assert.False(t, errors.Is(err, context.DeadlineExceeded))
	})

	t.Run("a stalled release fails the wait at once", func(t *testing.T) {
		ns := namespace(t, c, "stalled")
		create(t, c, ns, "stuck", nil)
		setConditions(t, c, ns, "stuck",
			condition(meta.ReadyCondition, metav1.ConditionFalse, helmv2.InstallFailedReason, "boom"),
			condition(meta.StalledCondition, metav1.ConditionTrue, "RetriesExceeded", "install retries exhausted"))
		w := startWait(t, cfg, Options{Namespace: ns})
		_, err := w.result(t)
		require.EqualError(t, err, "wait for HelmReleases: HelmRelease "+ns+"/stuck stalled: RetriesExceeded: install retries exhausted")
	})

	t.Run("a dependency wait never fails; the timeout names the stragglers", func(t *testing.T) {
		ns := namespace(t, c, "timeout")
		selected := map[string]string{"group": "platform"}
		create(t, c, ns, "ready", selected)
		setReady(t, c, ns, "ready", metav1.ConditionTrue, helmv2.InstallSucceededReason, "")
		create(t, c, ns, "waiting", selected)
		setReady(t, c, ns, "waiting", metav1.ConditionFalse, helmv2.DependencyNotReadyReason, "dependency '"+ns+"/db' is not ready")
		create(t, c, ns, "unselected", nil) // never Ready, outside the selector
		w := startWait(t, cfg, Options{Namespace: ns, LabelSelector: "group=platform",
			FailAfter: 100 * time.Millisecond, Timeout: 3 * time.Second})
		w.await(t, "HelmReleases ready 1/2 — waiting on "+ns+"/waiting: DependencyNotReady: dependency '"+ns+"/db' is not ready")
		res, err := w.result(t)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, "wait for HelmReleases (timeout 3s): 1 of 2 not Ready: "+ns+"/waiting: DependencyNotReady: dependency '"+
			ns+"/db' is not ready: context deadline exceeded", err.Error())
		require.Len(t, res.Releases, 1, "the result still times the Ready ones")
		assert.Equal(t, "ready", res.Releases[0].Name)
	})
}

// TestWaitBeforeCRD starts Wait before Flux is installed, as a pipeline does right after
// installing the platform: the missing CRD is shown, not fatal.
func TestWaitBeforeCRD(t *testing.T) {
	cfg := cptest.Config(t)
	c := newClient(t, cfg)
	w := startWait(t, cfg, Options{Namespace: "late", Settle: 100 * time.Millisecond})
	w.await(t, "listing HelmReleases: ")
	cptest.InstallCRDFiles(t, cfg, helmReleaseCRD)
	ns := namespace(t, c, "late")
	create(t, c, ns, "a", nil)
	setReady(t, c, ns, "a", metav1.ConditionTrue, helmv2.InstallSucceededReason, "")
	res, err := w.result(t)
	require.NoError(t, err)
	require.Len(t, res.Releases, 1)
}

// running is one Wait in the background with its progress lines.
type running struct {
	statuses chan string
	done     chan outcome
}

type outcome struct {
	res Result
	err error
}

// chanStep passes every status line to the test as well as to a Recorder.
type chanStep struct {
	progress.Step
	ch chan string
}

func (s chanStep) Status(format string, args ...any) {
	s.Step.Status(format, args...)
	s.ch <- fmt.Sprintf(format, args...)
}

func startWait(t *testing.T, cfg *rest.Config, opts Options) *running {
	r := &running{statuses: make(chan string, 1000), done: make(chan outcome, 1)}
	opts.Step = chanStep{Step: (&progress.Recorder{}).Begin("HelmReleases"), ch: r.statuses}
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		res, err := Wait(ctx, rest.CopyConfig(cfg), opts)
		r.done <- outcome{res, err}
	}()
	t.Cleanup(func() {
		cancel()
		<-r.done
	})
	return r
}

// await reads progress lines until one contains want.
func (r *running) await(t *testing.T, want string) {
	t.Helper()
	var seen []string
	deadline := time.After(20 * time.Second)
	for {
		select {
		case s := <-r.statuses:
			if strings.Contains(s, want) {
				t.Logf("progress: %s", s)
				return
			}
			seen = append(seen, s)
		case o := <-r.done:
			r.done <- o
			t.Fatalf("Wait ended (%v) before reporting %q; saw %q", o.err, want, seen)
		case <-deadline:
			t.Fatalf("no progress line with %q; saw %q", want, seen)
		}
	}
}

// rest returns the progress lines not read yet.
func (r *running) rest() []string {
	var out []string
	for {
		select {
		case s := <-r.statuses:
			out = append(out, s)
		default:
			return out
		}
	}
}

func (r *running) requireRunning(t *testing.T) {
	t.Helper()
	select {
	case o := <-r.done:
		t.Fatalf("Wait ended early: %+v", o)
	default:
	}
}

func (r *running) result(t *testing.T) (Result, error) {
	t.Helper()
	select {
	case o := <-r.done:
		r.done <- o // for the cleanup
		return o.res, o.err
	case <-time.After(20 * time.Second):
		t.Fatal("Wait did not end")
		return Result{}, nil
	}
}

func newClient(t *testing.T, cfg *rest.Config) client.Client {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, helmv2.AddToScheme(s))
	require.NoError(t, apiextensionsv1.AddToScheme(s))
	c, err := client.New(rest.CopyConfig(cfg), client.Options{Scheme: s})
	require.NoError(t, err)
	return c
}

func namespace(t *testing.T, c client.Client, name string) string {
	require.NoError(t, c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	return name
}

func create(t *testing.T, c client.Client, ns, name string, labels map[string]string) {
	hr := &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
		Spec: helmv2.HelmReleaseSpec{
			Interval: metav1.Duration{Duration: time.Minute},
			ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "OCIRepository", Name: name},
		},
	}
	require.NoError(t, c.Create(t.Context(), hr))
}

func condition(typ string, status metav1.ConditionStatus, reason, msg string) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg}
}

func setReady(t *testing.T, c client.Client, ns, name string, status metav1.ConditionStatus, reason, msg string) {
	setConditions(t, c, ns, name, condition(meta.ReadyCondition, status, reason, msg))
}

// setConditions writes status conditions for the current generation, as helm-controller does.
func setConditions(t *testing.T, c client.Client, ns, name string, conds ...metav1.Condition) {
	var hr helmv2.HelmRelease
	require.NoError(t, c.Get(t.Context(), client.ObjectKey{Namespace: ns, Name: name}, &hr))
	hr.Status.ObservedGeneration = hr.Generation
	hr.Status.Conditions = nil
	for _, cond := range conds {
		cond.ObservedGeneration = hr.Generation
		cond.LastTransitionTime = metav1.Now()
		hr.Status.Conditions = append(hr.Status.Conditions, cond)
	}
	require.NoError(t, c.Status().Update(t.Context(), &hr))
}
