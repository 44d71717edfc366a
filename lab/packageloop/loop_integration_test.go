//go:build integration

package packageloop

import (
	"strings"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/internal/progress"
)

// helmReleaseCRD is read from disk: lab/ may not import the operator's CRD embed.
const helmReleaseCRD = "../../operator/flux/crds/helm.toolkit.fluxcd.io_helmreleases.yaml"

// loopCluster starts an API server with the HelmRelease CRD, a namespace and a HelmRelease
// for testdata/demo, and returns the options naming them.
func loopCluster(t *testing.T) (Options, client.Client) {
	ctx := t.Context()
	cfg := cptest.Config(t)
	s := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(s))
	require.NoError(t, helmv2.AddToScheme(s))
	require.NoError(t, apiextensionsv1.AddToScheme(s))
	c, err := client.New(rest.CopyConfig(cfg), client.Options{Scheme: s})
	require.NoError(t, err)
	cptest.InstallCRDFiles(t, cfg, helmReleaseCRD)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cozy-demo"}}))
	require.NoError(t, c.Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "demo-values", Namespace: "cozy-demo"},
		Data:       map[string]string{"values.yaml": "greeting: from-configmap\nextra: {colour: blue}\n"},
	}))
	hr := &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "cozy-demo"},
		Spec: helmv2.HelmReleaseSpec{
			Interval:   metav1.Duration{Duration: time.Minute},
			ChartRef:   &helmv2.CrossNamespaceSourceReference{Kind: "OCIRepository", Name: "demo"},
			Install:    &helmv2.Install{DisableWait: true},
			Upgrade:    &helmv2.Upgrade{DisableWait: true},
			ValuesFrom: []meta.ValuesReference{{Kind: "ConfigMap", Name: "demo-values"}},
			Values:     &apiextensionsv1.JSON{Raw: []byte(`{"replicas": 2}`)},
		},
	}
	require.NoError(t, c.Create(ctx, hr))
	return Options{ChartDir: "testdata/demo", Name: "demo", Namespace: "cozy-demo", Config: cfg}, c
}

func TestLoop(t *testing.T) {
	ctx := t.Context()
	opts, c := loopCluster(t)
	hrKey := client.ObjectKey{Namespace: "cozy-demo", Name: "demo"}

	before, err := Diff(ctx, opts)
	require.NoError(t, err)
	require.Len(t, before.Objects, 3, "a fresh release creates every object")
	for _, o := range before.Objects {
		assert.Equal(t, ChangeCreate, o.Change, o.ID())
	}

	rel, err := Apply(ctx, opts, progress.Discard)
	require.NoError(t, err)
	assert.Equal(t, 1, rel.Version)

	var hr helmv2.HelmRelease
	require.NoError(t, c.Get(ctx, hrKey, &hr))
	assert.True(t, hr.Spec.Suspend, "apply suspends the HelmRelease")

	var cm corev1.ConfigMap
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-demo", Name: "demo-settings"}, &cm))
	assert.Equal(t, map[string]string{"greeting": "from-configmap", "colour": "blue"}, cm.Data, "valuesFrom reached the chart")
	assert.Equal(t, "demo", cm.Labels[LabelOriginName])
	assert.Equal(t, "cozy-demo", cm.Labels[LabelOriginNamespace])
	var release corev1.Secret
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-demo", Name: "sh.helm.release.v1.demo.v1"}, &release),
		"the release Secret is in the storage namespace")

	shown, err := Show(ctx, opts)
	require.NoError(t, err)
	assert.Equal(t, rel.Manifest, shown, "show renders what apply installed")

	same, err := Diff(ctx, opts)
	require.NoError(t, err)
	assert.False(t, same.Changed(), "no change right after apply:\n%s", same.Format(false))

	// A value changed in the HelmRelease shows as exactly that change.
	patch := client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"values":{"greeting":"hi"}}}`))
	require.NoError(t, c.Patch(ctx, &hr, patch))
	changed, err := Diff(ctx, opts)
	require.NoError(t, err)
	t.Log("diff after a values change:\n" + changed.Format(false))
	require.Len(t, changed.Objects, 1, changed.Format(false))
	assert.Equal(t, "ConfigMap/cozy-demo/demo-settings", changed.Objects[0].ID())
	assert.Equal(t, ChangeUpdate, changed.Objects[0].Change)
	assert.Contains(t, changed.Objects[0].Diff, "\n-  greeting: from-configmap\n+  greeting: hi\n")
	assert.Equal(t, 2, countChangedLines(changed.Objects[0].Diff), changed.Objects[0].Diff)
	assert.Contains(t, changed.Format(false), "changed: 0 to create, 1 to update, 0 to delete")

	rel, err = Apply(ctx, opts, progress.Discard)
	require.NoError(t, err)
	assert.Equal(t, 2, rel.Version)

	// A hand edit to a live object shows too.
	var dep appsv1.Deployment
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-demo", Name: "demo"}, &dep))
	dep.Spec.Replicas = ptr.To[int32](5)
	require.NoError(t, c.Update(ctx, &dep, client.FieldOwner("kubectl-edit")))
	drift, err := Diff(ctx, opts)
	require.NoError(t, err)
	t.Log("diff after a hand edit:\n" + drift.Format(false))
	require.Len(t, drift.Objects, 1, drift.Format(false))
	assert.Equal(t, "Deployment/cozy-demo/demo", drift.Objects[0].ID())
	assert.Contains(t, drift.Objects[0].Diff, "\n-  replicas: 5\n+  replicas: 2\n")

	// An object the render drops is listed as a deletion.
	require.NoError(t, c.Patch(ctx, &hr, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"values":{"notes":""}}}`))))
	require.NoError(t, c.Patch(ctx, &dep, client.RawPatch("application/merge-patch+json", []byte(`{"spec":{"replicas":2}}`))))
	removed, err := Diff(ctx, opts)
	require.NoError(t, err)
	require.Len(t, removed.Objects, 1, removed.Format(false))
	assert.Equal(t, "ConfigMap/cozy-demo/demo-notes", removed.Objects[0].ID())
	assert.Equal(t, ChangeDelete, removed.Objects[0].Change)
	assert.Contains(t, removed.Objects[0].Diff, "+++ merged/ConfigMap/cozy-demo/demo-notes\n@@ -1,")

	require.NoError(t, Resume(ctx, opts))
	require.NoError(t, c.Get(ctx, hrKey, &hr))
	assert.False(t, hr.Spec.Suspend, "resume clears suspend")
	assert.NotEmpty(t, hr.Annotations[meta.ReconcileRequestAnnotation], "resume requests a reconcile")

	require.NoError(t, Delete(ctx, opts, progress.Discard))
	require.NoError(t, c.Get(ctx, hrKey, &hr))
	assert.True(t, hr.Spec.Suspend, "delete suspends first")
	err = c.Get(ctx, client.ObjectKey{Namespace: "cozy-demo", Name: "demo-settings"}, &cm)
	assert.True(t, client.IgnoreNotFound(err) == nil && err != nil, "delete uninstalls the release: %v", err)
	require.NoError(t, Delete(ctx, opts, progress.Discard), "delete twice is fine")
}

func TestOpenMissingHelmRelease(t *testing.T) {
	opts, _ := loopCluster(t)
	opts.Name = "absent"
	_, err := Show(t.Context(), opts)
	require.ErrorContains(t, err, "no HelmRelease cozy-demo/absent in the cluster")
}

// countChangedLines counts the removed and added lines of a unified diff.
func countChangedLines(diff string) int {
	n := 0
	for _, l := range splitLines(diff) {
		if (l[0] == '-' || l[0] == '+') && !strings.HasPrefix(l, "--- ") && !strings.HasPrefix(l, "+++ ") {
			n++
		}
	}
	return n
}

func TestApplyTargetAndStorageNamespaces(t *testing.T) {
	ctx := t.Context()
	opts, c := loopCluster(t)
	for _, ns := range []string{"cozy-target", "cozy-store"} {
		require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	hr := &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Name: "split", Namespace: "cozy-demo"},
		Spec: helmv2.HelmReleaseSpec{
			Interval:         metav1.Duration{Duration: time.Minute},
			ChartRef:         &helmv2.CrossNamespaceSourceReference{Kind: "OCIRepository", Name: "demo"},
			Install:          &helmv2.Install{DisableWait: true},
			TargetNamespace:  "cozy-target",
			StorageNamespace: "cozy-store",
		},
	}
	require.NoError(t, c.Create(ctx, hr))
	opts.Name = "split"

	rel, err := Apply(ctx, opts, progress.Discard)
	require.NoError(t, err)
	assert.Equal(t, "cozy-target-split", rel.Name)
	var cm corev1.ConfigMap
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-target", Name: "cozy-target-split-settings"}, &cm),
		"objects go to the target namespace")
	assert.Equal(t, map[string]string{LabelOriginName: "split", LabelOriginNamespace: "cozy-demo"},
		map[string]string{LabelOriginName: cm.Labels[LabelOriginName], LabelOriginNamespace: cm.Labels[LabelOriginNamespace]})
	var secret corev1.Secret
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-store", Name: "sh.helm.release.v1.cozy-target-split.v1"}, &secret),
		"the release Secret goes to the storage namespace")

	res, err := Diff(ctx, opts)
	require.NoError(t, err)
	assert.False(t, res.Changed(), res.Format(false))
}
