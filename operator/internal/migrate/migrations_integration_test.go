//go:build integration

package migrate

import (
	"context"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	fluxcrds "github.com/cozylab/cozylab/operator/flux/crds"
	"github.com/cozylab/cozylab/operator/internal/install"
)

const helmReleaseCRD = "helm.toolkit.fluxcd.io_helmreleases.yaml"

func migration(t *testing.T, number int) Migration {
	t.Helper()
	for _, m := range All("cozy-system") {
		if m.Number == number {
			return m
		}
	}
	t.Fatalf("no migration %d registered", number)
	return Migration{}
}

func TestProtectPlatformObjects(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	createNamespace(t, c, "cozy-system", map[string]string{"cozystack.io/system": "true"})
	createVersion(t, c, "cozy-system", "1")
	values := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "cozy-system", Name: "cozystack-values"}}
	require.NoError(t, c.Create(ctx, values))

	m := migration(t, 1)
	require.NoError(t, m.Run(ctx, c))

	ns := &corev1.Namespace{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "cozy-system"}, ns))
	assert.Equal(t, "true", ns.Labels["platform.cozystack.io/no-delete"])
	assert.Equal(t, "true", ns.Labels["cozystack.io/system"], "other labels are kept")
	cm := getVersion(t, c, "cozy-system")
	assert.Equal(t, "true", cm.Labels["platform.cozystack.io/no-delete"])
	assert.Equal(t, "platform", cm.Labels["team"])
	assert.Equal(t, "1", cm.Data[VersionKey], "the migration leaves the version to the runner")
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(values), values))
	assert.NotContains(t, values.Labels, "platform.cozystack.io/no-delete", "the replicated values Secret stays deletable")

	// Idempotent: a second run writes nothing.
	require.NoError(t, m.Run(ctx, c))
	again := &corev1.Namespace{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "cozy-system"}, again))
	assert.Equal(t, ns.ResourceVersion, again.ResourceVersion)
	assert.Equal(t, cm.ResourceVersion, getVersion(t, c, "cozy-system").ResourceVersion)

	// Objects that do not exist are not created.
	require.NoError(t, protectPlatformObjects("nowhere")(ctx, c))
	err := c.Get(ctx, client.ObjectKey{Name: "nowhere"}, &corev1.Namespace{})
	assert.True(t, apierrors.IsNotFound(err), "the namespace is not created")
}

func helmRelease(namespace, name string, labels, annotations map[string]string) *helmv2.HelmRelease {
	return &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: labels, Annotations: annotations},
		Spec: helmv2.HelmReleaseSpec{
			Interval: metav1.Duration{Duration: time.Minute},
			ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: name, Namespace: "cozy-system"},
		},
	}
}

func TestRenameValuesFilesAnnotation(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	m := migration(t, 2)
	require.NoError(t, m.Run(ctx, c), "without the HelmRelease API there is nothing to migrate")

	require.NoError(t, install.CRDs(ctx, c, fluxcrds.FS, []string{helmReleaseCRD}, time.Minute))
	createNamespace(t, c, "cozy-apps", nil)
	pkg := map[string]string{"cozystack.io/package": "cozystack.apps"}
	for _, hr := range []*helmv2.HelmRelease{
		helmRelease("cozy-apps", "legacy", pkg, map[string]string{
			"cozypkg.cozystack.io/values-files": "values.yaml,values-ha.yaml", "team": "apps"}),
		helmRelease("cozy-apps", "both", pkg, map[string]string{
			"cozypkg.cozystack.io/values-files": "old.yaml", "cozyhr.cozystack.io/values-files": "values.yaml"}),
		helmRelease("cozy-apps", "current", pkg, map[string]string{"cozyhr.cozystack.io/values-files": "values.yaml"}),
		helmRelease("cozy-apps", "foreign", nil, map[string]string{"cozypkg.cozystack.io/values-files": "mine.yaml"}),
	} {
		require.NoError(t, c.Create(ctx, hr))
	}
	get := func(name string) *helmv2.HelmRelease {
		hr := &helmv2.HelmRelease{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-apps", Name: name}, hr))
		return hr
	}
	untouched := map[string]string{"current": get("current").ResourceVersion, "foreign": get("foreign").ResourceVersion}

	require.NoError(t, m.Run(ctx, c))
	assert.Equal(t, map[string]string{"cozyhr.cozystack.io/values-files": "values.yaml,values-ha.yaml", "team": "apps"}, get("legacy").Annotations)
	assert.Equal(t, map[string]string{"cozyhr.cozystack.io/values-files": "values.yaml"}, get("both").Annotations, "the operator's current value wins")
	for name, rv := range untouched {
		assert.Equal(t, rv, get(name).ResourceVersion, "%s is not written", name)
	}
	assert.Equal(t, "mine.yaml", get("foreign").Annotations["cozypkg.cozystack.io/values-files"], "HelmReleases not owned by a Package are left alone")

	// Idempotent: a second run writes nothing.
	before := map[string]string{}
	for _, name := range []string{"legacy", "both", "current", "foreign"} {
		before[name] = get(name).ResourceVersion
	}
	require.NoError(t, m.Run(ctx, c))
	for name, rv := range before {
		assert.Equal(t, rv, get(name).ResourceVersion, "%s is not written again", name)
	}
}

// TestRunUpgradesAPlatform runs the registered migrations through Run, with default options,
// on a cluster left at version 1 by an older release.
func TestRunUpgradesAPlatform(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	require.NoError(t, install.CRDs(ctx, c, fluxcrds.FS, []string{helmReleaseCRD}, time.Minute))
	createNamespace(t, c, "cozy-system", nil)
	createNamespace(t, c, "cozy-cilium", nil)
	createVersion(t, c, "cozy-system", "1")
	hr := helmRelease("cozy-cilium", "cilium", map[string]string{"cozystack.io/package": "cozystack.networking"},
		map[string]string{"cozypkg.cozystack.io/values-files": "values.yaml,values-kubeovn.yaml"})
	require.NoError(t, c.Create(ctx, hr))

	rec := &recorder{}
	res, err := Run(ctx, c, Options{Reporter: rec})
	require.NoError(t, err)
	assert.Equal(t, Result{From: 1, To: Target, Applied: []int{1, 2}}, res)
	assert.Equal(t, []string{"start 1", "done 1", "start 2", "done 2"}, rec.events)

	assertStamped(t, getVersion(t, c, "cozy-system"), Target)
	ns := &corev1.Namespace{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "cozy-system"}, ns))
	assert.Equal(t, "true", ns.Labels["platform.cozystack.io/no-delete"])
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(hr), hr))
	assert.Equal(t, map[string]string{"cozyhr.cozystack.io/values-files": "values.yaml,values-kubeovn.yaml"}, hr.Annotations)
}
