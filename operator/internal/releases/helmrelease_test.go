package releases

import (
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/fluxcd/pkg/apis/kustomize"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/optest"
)

func demoSource() *v1alpha1.PackageSource {
	return &v1alpha1.PackageSource{
		ObjectMeta: metav1.ObjectMeta{Name: "cozystack.demo"},
		Spec: v1alpha1.PackageSourceSpec{Variants: []v1alpha1.Variant{{
			Name: "full",
			Components: []v1alpha1.Component{
				{Name: "crds", Path: "system/demo-crds", Install: &v1alpha1.ComponentInstall{Namespace: "cozy-demo", UpgradeCRDs: "CreateReplace"}},
				{Name: "operator", Path: "system/demo-operator", ValuesFiles: []string{"values.yaml", "values-ha.yaml"},
					Install: &v1alpha1.ComponentInstall{Namespace: "cozy-demo", ReleaseName: "demo-operator", Privileged: true, DependsOn: []string{"crds"},
						HealthCheckExprs: []kustomize.CustomHealthCheck{{APIVersion: "demo.io/v1", Kind: "Widget", HealthCheckExpressions: kustomize.HealthCheckExpressions{Current: "status.ready == true"}}}}},
				{Name: "legacy", Path: "system/legacy", Install: &v1alpha1.ComponentInstall{Namespace: "cozy-legacy", WaitStrategy: "legacy"}},
			},
		}}},
	}
}

func TestHelmReleaseGolden(t *testing.T) {
	ps := demoSource()
	pkg := &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.demo", UID: "uid-pkg"}, Spec: v1alpha1.PackageSpec{
		Variant:    "full",
		Components: map[string]v1alpha1.PackageComponent{"operator": {Values: &apiextensionsv1.JSON{Raw: []byte(`{"replicas":3}`)}}},
	}}
	v := &ps.Spec.Variants[0]
	pkgDeps := []helmv2.DependencyReference{{Name: "cilium", Namespace: "cozy-cilium"}}
	for _, tt := range []struct {
		name      string
		component int
		settings  Settings
		skip      bool
	}{
		{"crds-defaults", 0, DefaultSettings, false},
		{"operator-privileged-values-healthchecks", 1, DefaultSettings, false},
		{"legacy-skip-values-custom-settings", 2, Settings{Interval: time.Minute, RetryInterval: 10 * time.Second, InstallTimeout: 3 * time.Minute, UpgradeTimeout: 4 * time.Minute, MaxHistory: 0}, true},
		{"operator-capped-retries", 1, Settings{Interval: 5 * time.Minute, InstallTimeout: 10 * time.Minute, UpgradeTimeout: 10 * time.Minute, MaxHistory: 5, MaxRetries: 3}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			src := ps.DeepCopy()
			if tt.skip {
				src.Annotations = map[string]string{v1alpha1.AnnotationSkipValues: "true"}
			}
			c := &v.Components[tt.component]
			local, err := componentDependsOn(v, c)
			require.NoError(t, err)
			hr := buildHelmRelease(pkg, src, "full", desired{component: c, dependsOn: append(local, pkgDeps...)}, c.Install.Privileged, tt.settings)
			optest.Golden(t, tt.name, hr)
		})
	}
}

func TestBuildSpecInvariants(t *testing.T) {
	ps := demoSource()
	pkg := &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.demo"}}
	c := &ps.Spec.Variants[0].Components[0]
	spec := buildSpec(pkg, ps, "full", desired{component: c}, Settings{MaxHistory: 0})
	require.NotNil(t, spec.MaxHistory, "maxHistory 0 is kept as a pointer to 0")
	assert.Equal(t, 0, *spec.MaxHistory)
	assert.Nil(t, spec.Install.Remediation, "upstream sets no remediation")
	assert.Equal(t, "RetryOnFailure", spec.Install.Strategy.Name)
	assert.Equal(t, helmv2.CRDsPolicy("CreateReplace"), spec.Upgrade.CRDs)
	assert.Nil(t, spec.WaitStrategy)
	assert.Equal(t, &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: "cozystack-demo-full-crds", Namespace: "cozy-system"}, spec.ChartRef)
	assert.Equal(t, []helmv2.ValuesReference{{Kind: "Secret", Name: "cozystack-values"}}, spec.ValuesFrom)
}

func TestWaitStrategy(t *testing.T) {
	hc := []kustomize.CustomHealthCheck{{APIVersion: "v1", Kind: "X"}}
	assert.Nil(t, waitStrategy(&v1alpha1.ComponentInstall{}))
	assert.Equal(t, helmv2.WaitStrategyPoller, waitStrategy(&v1alpha1.ComponentInstall{HealthCheckExprs: hc}).Name)
	assert.Equal(t, helmv2.WaitStrategyLegacy, waitStrategy(&v1alpha1.ComponentInstall{HealthCheckExprs: hc, WaitStrategy: "legacy"}).Name)
	assert.Equal(t, helmv2.WaitStrategyPoller, waitStrategy(&v1alpha1.ComponentInstall{WaitStrategy: "poller"}).Name)
}

func TestComponentDependsOn(t *testing.T) {
	v := &demoSource().Spec.Variants[0]
	refs, err := componentDependsOn(v, &v.Components[1])
	require.NoError(t, err)
	assert.Equal(t, []helmv2.DependencyReference{{Name: "crds", Namespace: "cozy-demo"}}, refs)
	v.Components[2].Install.DependsOn = []string{"nope"}
	_, err = componentDependsOn(v, &v.Components[2])
	require.EqualError(t, err, "component legacy depends on nope, which is not an installable component of variant full")
}

func TestPackageDependsOnSkipsDisabled(t *testing.T) {
	ps := demoSource()
	off := false
	dep := &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.demo"}, Spec: v1alpha1.PackageSpec{
		Variant: "full", Components: map[string]v1alpha1.PackageComponent{"legacy": {Enabled: &off}},
	}}
	refs, err := packageDependsOn(dep, ps)
	require.NoError(t, err)
	assert.Equal(t, []helmv2.DependencyReference{{Name: "crds", Namespace: "cozy-demo"}, {Name: "demo-operator", Namespace: "cozy-demo"}}, refs)
	dep.Spec.Variant = "missing"
	_, err = packageDependsOn(dep, ps)
	require.ErrorContains(t, err, "variant missing not found")
}

func TestPrivilegedNamespacesIndex(t *testing.T) {
	assert.Equal(t, []string{"cozy-demo"}, privilegedNamespaces(demoSource()))
	assert.Nil(t, privilegedNamespaces(&v1alpha1.Package{}))
}

func TestNamespaceLabels(t *testing.T) {
	ns := namespace("cozy-demo", true)
	assert.Equal(t, map[string]string{"cozystack.io/system": "true", "pod-security.kubernetes.io/enforce": "privileged"}, ns.Labels)
	assert.Equal(t, "keep", ns.Annotations["helm.sh/resource-policy"])
	assert.Empty(t, namespace("tenant-root", false).Labels, "tenant namespaces are not system namespaces")
}

func TestDependents(t *testing.T) {
	d := newDependents()
	d.set("a", []string{"x", "y"})
	d.set("b", []string{"x"})
	assert.ElementsMatch(t, []string{"a", "b"}, d.of("x"))
	d.set("a", []string{"y"})
	assert.Equal(t, []string{"b"}, d.of("x"))
	d.set("b", nil)
	assert.Empty(t, d.of("x"))
	assert.Equal(t, []string{"a"}, d.of("y"))
}
