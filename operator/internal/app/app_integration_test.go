//go:build integration

package app

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/crds"
	"github.com/cozylab/cozylab/operator/internal/config"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

func init() {
	skipNameValidation = true
	ctrl.SetLogger(logr.Discard()) // the operator logs through controller-runtime; tests read its effects
}

func parse(t *testing.T, args ...string) config.Config {
	t.Helper()
	cfg, err := config.Parse(append([]string{"--metrics-bind-address=0", "--health-probe-bind-address=0"}, args...), &bytes.Buffer{})
	require.NoError(t, err)
	return cfg
}

// runOperator runs the operator until the returned stop is called.
func runOperator(t *testing.T, cfg config.Config, rc *rest.Config) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Run(ctx, cfg, rc, logr.Discard()) }()
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cancel()
			require.NoError(t, <-done)
		}
	}
	t.Cleanup(stop)
	return stop
}

// TestOperatorBootstrapsAndRuns starts the real operator as the installer chart does, then
// plays the platform chart: a PackageSource and a Package become an ArtifactGenerator and
// HelmReleases. A restart mid-way leaves no duplicate and loses nothing.
func TestOperatorBootstrapsAndRuns(t *testing.T) {
	ctx := context.Background()
	rc := cptest.Config(t)
	c, err := client.New(rc, client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cozy-system"}}))
	cfg := parse(t, "--install-crds", "--install-flux", "--platform-source-url=oci://127.0.0.1:5000/cozystack-packages", "--platform-source-ref=tag=latest")
	stop := runOperator(t, cfg, rc)

	repo := &sourcev1.OCIRepository{}
	require.Eventually(t, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: "cozystack-platform"}, repo) == nil
	}, 30*time.Second, 100*time.Millisecond, "platform OCIRepository")
	assert.Equal(t, "latest", repo.Spec.Reference.Tag)
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-fluxcd", Name: "flux"}, &appsv1.Deployment{}))
	require.Eventually(t, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: "cozystack.cozystack-platform"}, &sw.ArtifactGenerator{}) == nil
	}, 15*time.Second, 100*time.Millisecond, "the platform PackageSource gets its generator")

	// The platform Package, as the installer creates it: the platform chart's HelmRelease.
	require.NoError(t, c.Create(ctx, &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.cozystack-platform"}, Spec: v1alpha1.PackageSpec{Variant: "isp-full"}}))
	hr := &helmv2.HelmRelease{}
	require.Eventually(t, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: "cozystack-platform"}, hr) == nil
	}, 15*time.Second, 100*time.Millisecond)
	assert.Equal(t, "cozystack-cozystack-platform-isp-full-platform", hr.Spec.ChartRef.Name)
	assert.Empty(t, hr.Spec.ValuesFrom, "the platform PackageSource skips cozystack-values")

	// Restart mid-way: more Packages arrive while no operator runs.
	stop()
	for i := range 5 {
		name := "cozystack.app" + string(rune('a'+i))
		require.NoError(t, c.Create(ctx, &v1alpha1.PackageSource{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.PackageSourceSpec{
			SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "cozystack-platform", Namespace: "cozy-system"},
			Variants: []v1alpha1.Variant{{Name: "default", Components: []v1alpha1.Component{
				{Name: "app", Path: "apps/x", Install: &v1alpha1.ComponentInstall{Namespace: "cozy-apps", ReleaseName: "app" + string(rune('a'+i))}},
			}}},
		}}))
		require.NoError(t, c.Create(ctx, &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	}
	runOperator(t, cfg, rc)
	require.Eventually(t, func() bool {
		var list helmv2.HelmReleaseList
		return c.List(ctx, &list) == nil && len(list.Items) == 6
	}, 30*time.Second, 100*time.Millisecond, "one HelmRelease per Package, none lost")
	require.Never(t, func() bool {
		var list helmv2.HelmReleaseList
		return c.List(ctx, &list) == nil && len(list.Items) != 6
	}, 2*time.Second, 200*time.Millisecond, "and no duplicates")
}

// TestApplicationDefinitionControllerWaitsForItsCRD runs the operator on a cluster without the
// ApplicationDefinition CRD (it ships with the packages): the operator keeps running, and once
// the CRD appears the controller starts and stamps cozystack-api.
func TestApplicationDefinitionControllerWaitsForItsCRD(t *testing.T) {
	ctx := context.Background()
	rc := cptest.Config(t)
	c, err := client.NewWithWatch(rc, client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cozy-system"}}))
	runOperator(t, parse(t, "--install-crds"), rc)

	one := int32(1)
	labels := map[string]string{"app": "cozystack-api"}
	require.NoError(t, c.Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "cozy-system", Name: "cozystack-api"},
		Spec: appsv1.DeploymentSpec{Replicas: &one, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "api", Image: "registry.example/api:1"}}}}},
	}))
	require.NoError(t, install.CRDs(ctx, c, crds.FS, []string{"cozystack.io_applicationdefinitions.yaml"}, time.Minute))
	require.Eventually(t, func() bool {
		ad := &v1alpha1.ApplicationDefinition{ObjectMeta: metav1.ObjectMeta{Name: "http-cache"}, Spec: v1alpha1.ApplicationDefinitionSpec{
			Application: v1alpha1.ApplicationDefinitionApplication{Kind: "HTTPCache", Plural: "httpcaches", Singular: "httpcache", OpenAPISchema: "{}"},
			Release:     v1alpha1.ApplicationDefinitionRelease{Prefix: "http-cache-", ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: "x"}},
		}}
		return c.Create(ctx, ad) == nil // discovery of the new CRD may lag a moment
	}, 15*time.Second, 100*time.Millisecond)
	require.Eventually(t, func() bool {
		d := &appsv1.Deployment{}
		return c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: "cozystack-api"}, d) == nil &&
			d.Spec.Template.Annotations[v1alpha1.AnnotationConfigHash] != ""
	}, 30*time.Second, 200*time.Millisecond, "cozystack-api restarted with the definitions' hash")
}

// TestAPIServerRestart restarts kube-apiserver while the operator works through Packages:
// every HelmRelease appears once, none lost, none duplicated.
func TestAPIServerRestart(t *testing.T) {
	ctx := context.Background()
	cp := cptest.Start(t)
	rc := cp.RESTConfig()
	c, err := client.New(rc, client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cozy-system"}}))
	runOperator(t, parse(t, "--install-crds", "--install-flux"), rc)
	create := func(i int) {
		name := fmt.Sprintf("cozystack.r%02d", i)
		require.Eventually(t, func() bool {
			err := c.Create(ctx, &v1alpha1.PackageSource{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.PackageSourceSpec{
				SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "p", Namespace: "cozy-system"},
				Variants: []v1alpha1.Variant{{Name: "default", Components: []v1alpha1.Component{
					{Name: "a", Path: "apps/a", Install: &v1alpha1.ComponentInstall{Namespace: "cozy-r", ReleaseName: fmt.Sprintf("a%02d", i)}},
					{Name: "b", Path: "apps/b", Install: &v1alpha1.ComponentInstall{Namespace: "cozy-r", ReleaseName: fmt.Sprintf("b%02d", i)}},
				}}},
			}})
			return err == nil || apierrors.IsAlreadyExists(err)
		}, 30*time.Second, 100*time.Millisecond)
		require.Eventually(t, func() bool {
			err := c.Create(ctx, &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: name}})
			return err == nil || apierrors.IsAlreadyExists(err)
		}, 30*time.Second, 100*time.Millisecond)
	}
	for i := range 10 {
		create(i)
	}
	require.NoError(t, cp.RestartAPIServer(ctx))
	for i := 10; i < 20; i++ {
		create(i)
	}
	count := func() int {
		var list helmv2.HelmReleaseList
		if c.List(ctx, &list) != nil {
			return -1
		}
		return len(list.Items)
	}
	require.Eventually(t, func() bool { return count() == 40 }, time.Minute, 200*time.Millisecond, "40 HelmReleases")
	require.Never(t, func() bool { n := count(); return n != 40 && n != -1 }, 2*time.Second, 200*time.Millisecond)
}

// TestMigrateCommand runs `cozystack-operator migrate` against a real API server.
func TestMigrateCommand(t *testing.T) {
	ctx := context.Background()
	cp := cptest.Start(t)
	c, err := client.New(cp.RESTConfig(), client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cozy-system"}}))
	require.NoError(t, c.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "cozy-system", Name: "cozystack-version"}, Data: map[string]string{"version": "1"}}))
	var out bytes.Buffer
	require.NoError(t, Migrate(ctx, []string{"--kubeconfig", cp.Kubeconfig}, &out))
	assert.Contains(t, out.String(), " ✓ migration 1 → 2")
	assert.Contains(t, out.String(), "platform version 3 (was 1, applied 2 migrations)")
	cm := &corev1.ConfigMap{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: "cozystack-version"}, cm))
	assert.Equal(t, "3", cm.Data["version"])
	out.Reset()
	require.NoError(t, Migrate(ctx, []string{"--kubeconfig", cp.Kubeconfig}, &out), "a second run is a no-op")
	assert.Contains(t, out.String(), "platform version 3 (was 3, applied 0 migrations)")
}
