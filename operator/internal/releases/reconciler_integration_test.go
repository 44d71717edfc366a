//go:build integration

package releases

import (
	"context"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/optest"
)

type env struct {
	t   *testing.T
	ctx context.Context
	c   client.Client
}

// start runs the Package controller in a real manager against a fresh real API server.
func start(t *testing.T, settings Settings) *env {
	t.Helper()
	return startOn(t, settings, nil)
}

// startOn does the same on cfg (a fresh API server when nil).
func startOn(t *testing.T, settings Settings, cfg *rest.Config) *env {
	t.Helper()
	cl := optest.NewCluster(t, cfg)
	cl.Run(t, func(ctx context.Context, mgr ctrl.Manager) error {
		return (&Reconciler{Client: mgr.GetClient(), Settings: settings}).SetupWithManager(ctx, mgr)
	})
	return &env{t: t, ctx: context.Background(), c: cl.Client}
}

func (e *env) create(objs ...client.Object) {
	e.t.Helper()
	for _, o := range objs {
		require.NoError(e.t, e.c.Create(e.ctx, o))
	}
}

// condition waits until the Package's condition typ has reason, and returns it.
func (e *env) condition(pkg, typ, reason string) metav1.Condition {
	e.t.Helper()
	var last *metav1.Condition
	require.Eventually(e.t, func() bool {
		p := &v1alpha1.Package{}
		if e.c.Get(e.ctx, client.ObjectKey{Name: pkg}, p) != nil {
			return false
		}
		last = apimeta.FindStatusCondition(p.Status.Conditions, typ)
		return last != nil && last.Reason == reason
	}, 15*time.Second, 50*time.Millisecond, "Package %s %s reason %s; last %+v", pkg, typ, reason, last)
	return *last
}

func (e *env) release(ns, name string) *helmv2.HelmRelease {
	e.t.Helper()
	hr := &helmv2.HelmRelease{}
	require.Eventually(e.t, func() bool { return e.c.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: name}, hr) == nil },
		15*time.Second, 50*time.Millisecond, "HelmRelease %s/%s", ns, name)
	return hr
}

func (e *env) gone(ns, name string) {
	e.t.Helper()
	e.goneWithin(ns, name, 15*time.Second)
}

func (e *env) goneWithin(ns, name string, d time.Duration) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		return client.IgnoreNotFound(e.c.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: name}, &helmv2.HelmRelease{})) == nil &&
			e.c.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: name}, &helmv2.HelmRelease{}) != nil
	}, d, 50*time.Millisecond, "HelmRelease %s/%s deleted", ns, name)
}

// helmStatus plays helm-controller: it sets a HelmRelease's conditions.
func (e *env) helmStatus(ns, name string, conds ...metav1.Condition) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		hr := &helmv2.HelmRelease{}
		if e.c.Get(e.ctx, client.ObjectKey{Namespace: ns, Name: name}, hr) != nil {
			return false
		}
		hr.Status.ObservedGeneration = hr.Generation
		hr.Status.Conditions = nil
		for _, c := range conds {
			c.ObservedGeneration, c.LastTransitionTime = hr.Generation, metav1.Now()
			hr.Status.Conditions = append(hr.Status.Conditions, c)
		}
		return e.c.Status().Update(e.ctx, hr) == nil
	}, 10*time.Second, 50*time.Millisecond)
}

func (e *env) updatePackage(name string, mutate func(*v1alpha1.Package)) {
	e.t.Helper()
	require.Eventually(e.t, func() bool {
		p := &v1alpha1.Package{}
		if e.c.Get(e.ctx, client.ObjectKey{Name: name}, p) != nil {
			return false
		}
		mutate(p)
		return e.c.Update(e.ctx, p) == nil
	}, 10*time.Second, 50*time.Millisecond)
}

func source(name string, variants ...v1alpha1.Variant) *v1alpha1.PackageSource {
	return &v1alpha1.PackageSource{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.PackageSourceSpec{
		SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "cozystack-packages", Namespace: "cozy-system"},
		Variants:  variants,
	}}
}

func pkg(name, variant string) *v1alpha1.Package {
	return &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.PackageSpec{Variant: variant}}
}

func installable(name, ns string, mods ...func(*v1alpha1.Component)) v1alpha1.Component {
	c := v1alpha1.Component{Name: name, Path: "system/" + name, Install: &v1alpha1.ComponentInstall{Namespace: ns}}
	for _, m := range mods {
		m(&c)
	}
	return c
}

var (
	readyTrue   = metav1.Condition{Type: "Ready", Status: "True", Reason: "InstallSucceeded", Message: "Helm install succeeded"}
	readyFalse  = metav1.Condition{Type: "Ready", Status: "False", Reason: "InstallFailed", Message: "Helm install failed: timed out waiting for the condition"}
	stalledTrue = metav1.Condition{Type: "Stalled", Status: "True", Reason: "RetriesExceeded", Message: "Failed to install after 3 attempt(s)"}
)

func TestPackageWritesReleasesAndReportsTheirHealth(t *testing.T) {
	e := start(t, DefaultSettings)
	privileged := func(c *v1alpha1.Component) { c.Install.Privileged = true }
	e.create(source("cozystack.demo", v1alpha1.Variant{Name: "default", Components: []v1alpha1.Component{
		installable("demo-crds", "cozy-demo"),
		installable("demo-operator", "cozy-demo", privileged, func(c *v1alpha1.Component) { c.Install.DependsOn = []string{"demo-crds"} }),
		{Name: "demo-app", Path: "apps/demo"}, // an artifact only: no HelmRelease
	}}), pkg("cozystack.demo", ""))

	ready := e.condition("cozystack.demo", "Ready", v1alpha1.ReasonReconciliationSucceeded)
	assert.Equal(t, "reconciliation succeeded, generated 2 helmrelease(s)", ready.Message)
	op := e.release("cozy-demo", "demo-operator")
	assert.Equal(t, "true", op.Labels[v1alpha1.LabelPrivileged])
	assert.Equal(t, []helmv2.DependencyReference{{Name: "demo-crds", Namespace: "cozy-demo"}}, op.Spec.DependsOn)
	assert.Equal(t, "cozystack-demo-default-demo-operator", op.Spec.ChartRef.Name)
	require.Len(t, op.OwnerReferences, 1)
	ns := &corev1.Namespace{}
	require.NoError(t, e.c.Get(e.ctx, client.ObjectKey{Name: "cozy-demo"}, ns))
	assert.Equal(t, "privileged", ns.Labels["pod-security.kubernetes.io/enforce"])
	assert.Equal(t, "true", ns.Labels[v1alpha1.LabelSystem])

	// Ready keeps upstream's meaning; ReleasesReady tells the truth about the releases.
	c := e.condition("cozystack.demo", v1alpha1.ConditionReleasesReady, v1alpha1.ReasonReleasesProgressing)
	assert.Equal(t, metav1.ConditionFalse, c.Status)
	e.helmStatus("cozy-demo", "demo-crds", readyTrue)
	e.helmStatus("cozy-demo", "demo-operator", readyFalse)
	c = e.condition("cozystack.demo", v1alpha1.ConditionReleasesReady, v1alpha1.ReasonReleaseNotReady)
	assert.Equal(t, "HelmRelease cozy-demo/demo-operator: InstallFailed: Helm install failed: timed out waiting for the condition", c.Message)
	p := &v1alpha1.Package{}
	require.NoError(t, e.c.Get(e.ctx, client.ObjectKey{Name: "cozystack.demo"}, p))
	assert.Equal(t, "1/2 ready", p.Status.Releases)

	e.helmStatus("cozy-demo", "demo-operator", readyTrue)
	c = e.condition("cozystack.demo", v1alpha1.ConditionReleasesReady, v1alpha1.ReasonAllReleasesReady)
	assert.Equal(t, metav1.ConditionTrue, c.Status)
	assert.Equal(t, "2/2 HelmReleases ready", c.Message)
}

func TestCappedRetriesEndInATerminalCondition(t *testing.T) {
	s := DefaultSettings
	s.MaxRetries = 3
	e := start(t, s)
	e.create(source("cozystack.x", v1alpha1.Variant{Name: "default", Components: []v1alpha1.Component{installable("x", "cozy-x")}}), pkg("cozystack.x", ""))
	hr := e.release("cozy-x", "x")
	assert.Equal(t, "RemediateOnFailure", hr.Spec.Install.Strategy.Name)
	assert.Equal(t, 3, hr.Spec.Install.Remediation.Retries)
	e.helmStatus("cozy-x", "x", readyFalse, stalledTrue)
	c := e.condition("cozystack.x", v1alpha1.ConditionReleasesReady, v1alpha1.ReasonReleaseStalled)
	assert.Equal(t, "HelmRelease cozy-x/x stalled (RetriesExceeded): Failed to install after 3 attempt(s)", c.Message)
}

func TestComponentChangesAndForeignFields(t *testing.T) {
	e := start(t, DefaultSettings)
	e.create(source("cozystack.m",
		v1alpha1.Variant{Name: "a", Components: []v1alpha1.Component{
			installable("one", "cozy-m", func(c *v1alpha1.Component) { c.Install.Privileged = true }),
			installable("two", "cozy-m"),
		}},
		v1alpha1.Variant{Name: "b", Components: []v1alpha1.Component{installable("one", "cozy-m"), installable("three", "cozy-m3")}},
	), pkg("cozystack.m", "a"))
	e.release("cozy-m", "one")
	e.release("cozy-m", "two")

	// A person suspends a release: a later spec change must not resume it.
	hr := e.release("cozy-m", "one")
	hr.Spec.Suspend = true
	require.NoError(t, e.c.Update(e.ctx, hr, client.FieldOwner("kubectl-edit")))
	e.updatePackage("cozystack.m", func(p *v1alpha1.Package) {
		off := false
		p.Spec.Components = map[string]v1alpha1.PackageComponent{
			"one": {Values: &apiextensionsv1.JSON{Raw: []byte(`{"size":2}`)}},
			"two": {Enabled: &off},
		}
	})
	e.gone("cozy-m", "two")
	require.Eventually(t, func() bool {
		hr = e.release("cozy-m", "one")
		return hr.Spec.Values != nil && string(hr.Spec.Values.Raw) == `{"size":2}`
	}, 15*time.Second, 50*time.Millisecond)
	assert.True(t, hr.Spec.Suspend, "suspension survives")

	// Variant b: "one" loses privileged (its label is removed), "three" appears, a stays gone.
	e.updatePackage("cozystack.m", func(p *v1alpha1.Package) { p.Spec.Variant = "b" })
	e.release("cozy-m3", "three")
	require.Eventually(t, func() bool {
		hr = e.release("cozy-m", "one")
		_, priv := hr.Labels[v1alpha1.LabelPrivileged]
		return !priv && hr.Spec.ChartRef.Name == "cozystack-m-b-one"
	}, 15*time.Second, 50*time.Millisecond, "a label the operator stops setting is removed")
	ns := &corev1.Namespace{}
	require.NoError(t, e.c.Get(e.ctx, client.ObjectKey{Name: "cozy-m"}, ns))
	assert.NotContains(t, ns.Labels, "pod-security.kubernetes.io/enforce")
}

func TestInvalidInputsEndInReadyFalse(t *testing.T) {
	e := start(t, DefaultSettings)
	e.create(
		pkg("cozystack.orphan", ""),
		source("cozystack.v", v1alpha1.Variant{Name: "default", Components: []v1alpha1.Component{installable("v", "cozy-v")}}), pkg("cozystack.v", "nope"),
		source("cozystack.ns", v1alpha1.Variant{Name: "default", Components: []v1alpha1.Component{installable("n", "")}}), pkg("cozystack.ns", ""),
		source("cozystack.dep", v1alpha1.Variant{Name: "default", DependsOn: []string{"cozystack.missing"}, Components: []v1alpha1.Component{installable("d", "cozy-d")}}), pkg("cozystack.dep", ""),
		source("cozystack.local", v1alpha1.Variant{Name: "default", Components: []v1alpha1.Component{
			installable("l", "cozy-l", func(c *v1alpha1.Component) { c.Install.DependsOn = []string{"ghost"} })}}), pkg("cozystack.local", ""),
	)
	for _, tt := range []struct{ pkg, reason, msg string }{
		{"cozystack.orphan", v1alpha1.ReasonPackageSourceNotFound, "PackageSource cozystack.orphan not found"},
		{"cozystack.v", v1alpha1.ReasonVariantNotFound, "Variant nope not found in PackageSource cozystack.v"},
		{"cozystack.ns", v1alpha1.ReasonInvalidConfiguration, "component n of variant default has no install.namespace"},
		{"cozystack.dep", v1alpha1.ReasonDependenciesNotReady, "One or more dependencies are not ready: cozystack.missing (no Package cozystack.missing: not installed, or disabled in the bundle)"},
		{"cozystack.local", v1alpha1.ReasonDependsOnFailed, "component l depends on ghost, which is not an installable component of variant default"},
	} {
		c := e.condition(tt.pkg, "Ready", tt.reason)
		assert.Equal(t, metav1.ConditionFalse, c.Status, tt.pkg)
		assert.Equal(t, tt.msg, c.Message, tt.pkg)
	}
	// No hot loop: with nothing changing, nothing is written.
	p := &v1alpha1.Package{}
	require.NoError(t, e.c.Get(e.ctx, client.ObjectKey{Name: "cozystack.dep"}, p))
	rv := p.ResourceVersion
	require.Never(t, func() bool {
		q := &v1alpha1.Package{}
		return e.c.Get(e.ctx, client.ObjectKey{Name: "cozystack.dep"}, q) == nil && q.ResourceVersion != rv
	}, 2*time.Second, 100*time.Millisecond)
}

func TestDependencyGatingAndSharedPrivilegedNamespace(t *testing.T) {
	e := start(t, DefaultSettings)
	e.create(
		source("cozystack.app", v1alpha1.Variant{Name: "default", DependsOn: []string{"cozystack.base"}, Components: []v1alpha1.Component{installable("app", "cozy-shared")}}),
		pkg("cozystack.app", ""),
	)
	c := e.condition("cozystack.app", "Ready", v1alpha1.ReasonDependenciesNotReady)
	assert.Contains(t, c.Message, "cozystack.base (no Package cozystack.base")

	// The dependency appears: its Ready wakes the dependent up without any other event.
	e.create(
		source("cozystack.base", v1alpha1.Variant{Name: "default", Components: []v1alpha1.Component{
			installable("base", "cozy-shared", func(c *v1alpha1.Component) { c.Install.Privileged = true })}}),
		pkg("cozystack.base", ""),
	)
	e.condition("cozystack.app", "Ready", v1alpha1.ReasonReconciliationSucceeded)
	app := e.release("cozy-shared", "app")
	assert.Equal(t, []helmv2.DependencyReference{{Name: "base", Namespace: "cozy-shared"}}, app.Spec.DependsOn)
	p := &v1alpha1.Package{}
	require.NoError(t, e.c.Get(e.ctx, client.ObjectKey{Name: "cozystack.app"}, p))
	assert.Equal(t, map[string]v1alpha1.DependencyStatus{"cozystack.base": {Ready: true}}, p.Status.Dependencies)

	// cozy-shared is privileged because of base, whichever Package applied it last.
	e.updatePackage("cozystack.app", func(p *v1alpha1.Package) { p.Labels = map[string]string{"touch": "1"} })
	require.Never(t, func() bool {
		ns := &corev1.Namespace{}
		return e.c.Get(e.ctx, client.ObjectKey{Name: "cozy-shared"}, ns) == nil && ns.Labels["pod-security.kubernetes.io/enforce"] != "privileged"
	}, 2*time.Second, 100*time.Millisecond)

	// Ignoring the dependency drops it from gating and from dependsOn.
	e.updatePackage("cozystack.app", func(p *v1alpha1.Package) { p.Spec.IgnoreDependencies = []string{"cozystack.base"} })
	require.Eventually(t, func() bool { return len(e.release("cozy-shared", "app").Spec.DependsOn) == 0 }, 15*time.Second, 50*time.Millisecond)
}

// TestDeletionCascade runs kube-controller-manager's garbage collector: deleting a Package
// deletes its HelmReleases through their owner references; its namespaces stay.
func TestDeletionCascade(t *testing.T) {
	e := startOn(t, DefaultSettings, cptest.StartWithControllers(t).RESTConfig())
	e.create(source("cozystack.gc", v1alpha1.Variant{Name: "default", Components: []v1alpha1.Component{
		installable("a", "cozy-gc"), installable("b", "cozy-gc")}}), pkg("cozystack.gc", ""))
	e.release("cozy-gc", "a")
	e.release("cozy-gc", "b")
	p := &v1alpha1.Package{}
	require.NoError(t, e.c.Get(e.ctx, client.ObjectKey{Name: "cozystack.gc"}, p))
	require.NoError(t, e.c.Delete(e.ctx, p))
	// The garbage collector learns of CRDs installed after it started on its next discovery
	// resync, every 30 seconds.
	e.goneWithin("cozy-gc", "a", time.Minute)
	e.gone("cozy-gc", "b")
	ns := &corev1.Namespace{}
	require.NoError(t, e.c.Get(e.ctx, client.ObjectKey{Name: "cozy-gc"}, ns))
	assert.True(t, ns.DeletionTimestamp.IsZero(), "namespaces are never deleted by the operator")
}
