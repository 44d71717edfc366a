//go:build integration

package appdefcontroller

import (
	"context"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	fluxcrds "github.com/cozylab/cozylab/operator/flux/crds"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

func TestHelmReconcilerAlignsApplicationReleases(t *testing.T) {
	e := newEnv(t)
	c := e.c.(client.WithWatch)
	require.NoError(t, install.CRDs(e.ctx, c, fluxcrds.FS, []string{"helm.toolkit.fluxcd.io_helmreleases.yaml"}, time.Minute))
	require.NoError(t, e.c.Create(e.ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-a"}}))
	ctx, cancel := context.WithCancel(context.Background())
	skip := true
	mgr, err := ctrl.NewManager(e.cfg, ctrl.Options{Scheme: scheme.Must(), Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: &skip}})
	require.NoError(t, err)
	require.NoError(t, (&HelmReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr))
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })

	labels := map[string]string{LabelApplicationKind: "HTTPCache", LabelApplicationGroup: ApplicationGroup}
	stale := &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tenant-a", Name: "http-cache-web", Labels: labels},
		Spec: helmv2.HelmReleaseSpec{
			Interval:   metav1.Duration{Duration: time.Minute},
			ChartRef:   &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: "old-artifact", Namespace: "cozy-system"},
			ValuesFrom: []helmv2.ValuesReference{{Kind: "Secret", Name: "something-else"}},
		},
	}
	other := stale.DeepCopy()
	other.Name, other.Labels = "unrelated", map[string]string{LabelApplicationKind: "Postgres", LabelApplicationGroup: ApplicationGroup}
	require.NoError(t, e.c.Create(e.ctx, stale))
	require.NoError(t, e.c.Create(e.ctx, other))
	require.NoError(t, e.c.Create(e.ctx, &v1alpha1.ApplicationDefinition{ObjectMeta: metav1.ObjectMeta{Name: "http-cache"}, Spec: v1alpha1.ApplicationDefinitionSpec{
		Application: v1alpha1.ApplicationDefinitionApplication{Kind: "HTTPCache", Plural: "httpcaches", Singular: "httpcache", OpenAPISchema: "{}"},
		Release: v1alpha1.ApplicationDefinitionRelease{Prefix: "http-cache-", Labels: map[string]string{"sharding.fluxcd.io/key": "tenants"},
			ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: "cozystack-http-cache-default-http-cache", Namespace: "cozy-system"}},
	}}))

	hr := &helmv2.HelmRelease{}
	require.Eventually(t, func() bool {
		return e.c.Get(e.ctx, client.ObjectKey{Namespace: "tenant-a", Name: "http-cache-web"}, hr) == nil &&
			hr.Spec.ChartRef.Name == "cozystack-http-cache-default-http-cache"
	}, 15*time.Second, 50*time.Millisecond)
	assert.Equal(t, []helmv2.ValuesReference{{Kind: "Secret", Name: "cozystack-values"}}, hr.Spec.ValuesFrom)
	assert.Equal(t, "tenants", hr.Labels["sharding.fluxcd.io/key"])

	// A hand edit of the release is reverted.
	hr.Spec.ChartRef.Name = "hand-edited"
	require.NoError(t, e.c.Update(e.ctx, hr))
	require.Eventually(t, func() bool {
		return e.c.Get(e.ctx, client.ObjectKey{Namespace: "tenant-a", Name: "http-cache-web"}, hr) == nil &&
			hr.Spec.ChartRef.Name == "cozystack-http-cache-default-http-cache"
	}, 15*time.Second, 50*time.Millisecond)

	require.NoError(t, e.c.Get(e.ctx, client.ObjectKey{Namespace: "tenant-a", Name: "unrelated"}, other))
	assert.Equal(t, "old-artifact", other.Spec.ChartRef.Name, "another kind's release is not touched")
}
