//go:build integration

package releasewait

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane"
	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/crds"
	fluxcrds "github.com/cozylab/cozylab/operator/flux/crds"
)

// awaitTimeout bounds each thing the test waits for; a loaded machine gets seconds, not minutes.
const awaitTimeout = 60 * time.Second

// TestWait plays the operator (Packages' Ready, HelmReleases labelled with their Package) and
// helm-controller (HelmReleases' status) while Wait watches, and follows Wait's progress lines
// to order its moves: a line shows what the waiter has observed.
func TestWait(t *testing.T) {
	cfg := cptest.Config(t)
	installPackageCRD(t, cfg)
	installHelmReleaseCRD(t, cfg)
	c := newClient(t, cfg)

	// Releases alone first: Packages are cluster-scoped, so these run before any exists.
	t.Run("a stalled release fails the wait at once", func(t *testing.T) {
		ns := namespace(t, c, "stalled")
		createRelease(t, c, ns, "stuck", nil)
		setConditions(t, c, ns, "stuck",
			condition(meta.ReadyCondition, metav1.ConditionFalse, helmv2.InstallFailedReason, "boom"),
			condition(meta.StalledCondition, metav1.ConditionTrue, "RetriesExceeded", "install retries exhausted"))
		w := startWait(t, cfg, Options{Namespace: ns})
		_, err := w.result(t)
		require.EqualError(t, err, "wait for Packages and HelmReleases: HelmRelease "+ns+"/stuck stalled: RetriesExceeded: install retries exhausted")
	})

	t.Run("a dependency wait never fails; the timeout names the stragglers", func(t *testing.T) {
		ns := namespace(t, c, "timeout")
		selected := map[string]string{"group": "platform"}
		createRelease(t, c, ns, "ready", selected)
		setReady(t, c, ns, "ready", metav1.ConditionTrue, helmv2.InstallSucceededReason, "")
		createRelease(t, c, ns, "waiting", selected)
		setReady(t, c, ns, "waiting", metav1.ConditionFalse, helmv2.DependencyNotReadyReason, "dependency '"+ns+"/db' is not ready")
		createRelease(t, c, ns, "unselected", nil) // never Ready, outside the selector
		w := startWait(t, cfg, Options{Namespace: ns, LabelSelector: "group=platform",
			FailAfter: 100 * time.Millisecond, Timeout: 10 * time.Second})
		w.await(t, "HelmReleases ready 1/2 — waiting on "+ns+"/waiting: DependencyNotReady: dependency '"+ns+"/db' is not ready")
		res, err := w.result(t)
		require.Error(t, err)
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, "wait for Packages and HelmReleases (timeout 10s): 1 of 2 HelmReleases and 0 of 0 Packages not Ready: "+
			ns+"/waiting: DependencyNotReady: dependency '"+ns+"/db' is not ready: context deadline exceeded", err.Error())
		require.Len(t, res.Releases, 1, "the result still times the Ready ones")
		assert.Equal(t, "ready", res.Releases[0].Name)
	})

	t.Run("a Package created during the wait holds it until its release is Ready", func(t *testing.T) {
		ns := namespace(t, c, "created")
		// An installed platform whose Package was just changed: the wait is running.
		createPackage(t, c, "created.platform")
		setPackageReady(t, c, "created.platform")
		createRelease(t, c, ns, "platform", packageLabel("created.platform"))
		setReady(t, c, ns, "platform", metav1.ConditionTrue, helmv2.InstallSucceededReason, "")
		bumpGeneration(t, c, "created.platform")
		w := startWait(t, cfg, Options{Namespace: ns})
		w.await(t, "HelmReleases ready 1/1, Packages ready 0/1 — waiting on Package created.platform: Progressing: generation 2 not observed yet")

		createPackage(t, c, "created.new")
		w.await(t, "Packages ready 0/2")
		setPackageReady(t, c, "created.platform")
		// The failure of issue #11: every release there is Ready, but the operator has not yet
		// turned the new Package into its releases.
		w.await(t, "HelmReleases ready 1/1, Packages ready 1/2 — waiting on Package created.new: NotReconciled: no Ready condition yet")
		w.requireRunning(t)

		createRelease(t, c, ns, "new", packageLabel("created.new"))
		w.await(t, "HelmReleases ready 1/2, Packages ready 1/2")
		setPackageReady(t, c, "created.new")
		w.await(t, "HelmReleases ready 1/2, Packages ready 2/2 — waiting on "+ns+"/new: NotReconciled: no Ready condition yet")
		w.requireRunning(t)

		setReady(t, c, ns, "new", metav1.ConditionTrue, helmv2.InstallSucceededReason, "Helm install succeeded")
		res, err := w.result(t)
		require.NoError(t, err)
		var names []string
		for _, r := range res.Releases {
			names = append(names, r.Name)
		}
		assert.ElementsMatch(t, []string{"platform", "new"}, names)
		assert.Equal(t, []string{"HelmReleases ready 2/2, Packages ready 2/2"}, w.rest(), "the release's Ready event ended the wait")
	})

	t.Run("a new Package's failing release fails the wait naming it", func(t *testing.T) {
		ns := namespace(t, c, "broken")
		createPackage(t, c, "broken.platform")
		setPackageReady(t, c, "broken.platform")
		createRelease(t, c, ns, "platform", packageLabel("broken.platform"))
		setReady(t, c, ns, "platform", metav1.ConditionTrue, helmv2.InstallSucceededReason, "")
		// The e2e's order: the Package is created, then the wait starts, before the operator
		// has reached it.
		createPackage(t, c, "broken.broken")
		w := startWait(t, cfg, Options{Namespace: ns, FailAfter: 300 * time.Millisecond})
		w.await(t, "HelmReleases ready 1/1, Packages ready 1/2 — waiting on Package broken.broken: NotReconciled: no Ready condition yet")
		w.requireRunning(t)

		createRelease(t, c, ns, "broken", packageLabel("broken.broken"))
		setPackageReady(t, c, "broken.broken")
		setReady(t, c, ns, "broken", metav1.ConditionFalse, helmv2.InstallFailedReason, "Helm install failed: template: boom")
		_, err := w.result(t)
		require.Error(t, err)
		assert.Regexp(t, `^wait for Packages and HelmReleases: HelmRelease `+ns+`/broken failing for [0-9.]+m?s: InstallFailed: Helm install failed: template: boom$`, err.Error())
		assert.False(t, errors.Is(err, context.DeadlineExceeded))
	})

	t.Run("a single-release platform ends as soon as its release is Ready", func(t *testing.T) {
		ns := namespace(t, c, "single")
		createPackage(t, c, "single.platform")
		createRelease(t, c, ns, "platform", packageLabel("single.platform"))
		setPackageReady(t, c, "single.platform")
		w := startWait(t, cfg, Options{Namespace: ns})
		w.await(t, "HelmReleases ready 0/1, Packages ready 1/1 — waiting on "+ns+"/platform: NotReconciled")
		setReady(t, c, ns, "platform", metav1.ConditionTrue, helmv2.InstallSucceededReason, "")
		res, err := w.result(t)
		require.NoError(t, err)
		require.Len(t, res.Releases, 1)
		assert.Equal(t, []string{"HelmReleases ready 1/1, Packages ready 1/1"}, w.rest(), "no minimum count, no settle period")
	})
}

// TestWaitBeforeCRD starts Wait before the CRDs exist, as a pipeline may right after installing
// the platform: the missing kinds are shown, not fatal.
func TestWaitBeforeCRD(t *testing.T) {
	cfg := cptest.Config(t)
	c := newClient(t, cfg)
	w := startWait(t, cfg, Options{Namespace: "late"})
	w.await(t, "listing HelmReleases and Packages: ")
	installPackageCRD(t, cfg)
	// A Package before the releases can be listed, so the wait cannot find an empty platform.
	createPackage(t, c, "late.platform")
	installHelmReleaseCRD(t, cfg)
	w.await(t, "HelmReleases ready 0/0, Packages ready 0/1 — waiting on Package late.platform: NotReconciled")
	ns := namespace(t, c, "late")
	createRelease(t, c, ns, "a", packageLabel("late.platform"))
	setPackageReady(t, c, "late.platform")
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

func startWait(t *testing.T, cfg *rest.Config, opts Options) *running {
	r := &running{statuses: make(chan string, 1000), done: make(chan outcome, 1)}
	opts.Step = chanStep{Step: (&progress.Recorder{}).Begin("platform"), ch: r.statuses}
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
	deadline := time.After(awaitTimeout)
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

// requireRunning fails if Wait has ended. Called right after a progress line showed the waiter
// had observed a state that must not end the wait.
func (r *running) requireRunning(t *testing.T) {
	t.Helper()
	select {
	case o := <-r.done:
		r.done <- o
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
	case <-time.After(awaitTimeout):
		t.Fatal("Wait did not end")
		return Result{}, nil
	}
}

func installPackageCRD(t *testing.T, cfg *rest.Config) {
	t.Helper()
	require.NoError(t, controlplane.InstallCRDs(context.Background(), cfg, crds.FS, []string{"cozystack.io_packages.yaml"},
		progress.Discard.Begin(""), awaitTimeout))
}

// installHelmReleaseCRD installs the HelmRelease CRD and the ExternalArtifact CRD (the wait
// watches the artifacts releases' charts come from), as Flux installs both.
func installHelmReleaseCRD(t *testing.T, cfg *rest.Config) {
	t.Helper()
	require.NoError(t, controlplane.InstallCRDs(context.Background(), cfg, fluxcrds.FS,
		[]string{"helm.toolkit.fluxcd.io_helmreleases.yaml", "source.toolkit.fluxcd.io_externalartifacts.yaml"},
		progress.Discard.Begin(""), awaitTimeout))
}

func newClient(t *testing.T, cfg *rest.Config) client.Client {
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, helmv2.AddToScheme(s))
	require.NoError(t, v1alpha1.AddToScheme(s))
	c, err := client.New(rest.CopyConfig(cfg), client.Options{Scheme: s})
	require.NoError(t, err)
	return c
}

func namespace(t *testing.T, c client.Client, name string) string {
	require.NoError(t, c.Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	return name
}

// createPackage creates a Package with no status, as a chart or a person does, and deletes it
// when the test ends: Packages are cluster-scoped and every Wait sees them all.
func createPackage(t *testing.T, c client.Client, name string) {
	p := &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: name}}
	require.NoError(t, c.Create(t.Context(), p))
	t.Cleanup(func() { assert.NoError(t, client.IgnoreNotFound(c.Delete(context.Background(), p))) })
}

// bumpGeneration changes the Package's spec, as an upgrade does.
func bumpGeneration(t *testing.T, c client.Client, name string) {
	var p v1alpha1.Package
	require.NoError(t, c.Get(t.Context(), client.ObjectKey{Name: name}, &p))
	p.Spec.Variant = "next"
	require.NoError(t, c.Update(t.Context(), &p))
	require.Equal(t, int64(2), p.Generation)
}

// setPackageReady writes Ready=True for the Package's current generation, as the operator does
// once it has written every HelmRelease of the Package.
func setPackageReady(t *testing.T, c client.Client, name string) {
	var p v1alpha1.Package
	require.NoError(t, c.Get(t.Context(), client.ObjectKey{Name: name}, &p))
	apimeta.SetStatusCondition(&p.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonReconciliationSucceeded,
		Message: "reconciliation succeeded", ObservedGeneration: p.Generation,
	})
	require.NoError(t, c.Status().Update(t.Context(), &p))
}

// packageLabel is how the operator labels the HelmReleases of Package name.
func packageLabel(name string) map[string]string {
	return map[string]string{v1alpha1.LabelPackage: name}
}

func createRelease(t *testing.T, c client.Client, ns, name string, labels map[string]string) {
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
