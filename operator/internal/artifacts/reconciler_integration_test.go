//go:build integration

package artifacts

import (
	"context"
	"testing"
	"time"

	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/optest"
)

// startController runs the PackageSource controller in a real manager against a real API server.
func startController(t *testing.T) client.Client {
	t.Helper()
	cl := optest.NewCluster(t, nil)
	cl.Run(t, func(_ context.Context, mgr ctrl.Manager) error {
		return (&Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr)
	})
	return cl.Client
}

func readyOf(t *testing.T, c client.Client, name string) *metav1.Condition {
	ps := &v1alpha1.PackageSource{}
	if err := c.Get(context.Background(), client.ObjectKey{Name: name}, ps); err != nil {
		return nil
	}
	return apimeta.FindStatusCondition(ps.Status.Conditions, v1alpha1.ConditionReady)
}

func eventuallyReason(t *testing.T, c client.Client, name, reason string) *metav1.Condition {
	t.Helper()
	var got *metav1.Condition
	require.Eventually(t, func() bool {
		got = readyOf(t, c, name)
		return got != nil && got.Reason == reason
	}, 15*time.Second, 50*time.Millisecond, "PackageSource %s Ready reason %s (last: %+v)", name, reason, got)
	return got
}

func setGeneratorStatus(t *testing.T, c client.Client, name string, mutate func(*sw.ArtifactGenerator)) {
	t.Helper()
	ctx := context.Background()
	require.Eventually(t, func() bool {
		ag := &sw.ArtifactGenerator{}
		if c.Get(ctx, client.ObjectKey{Namespace: v1alpha1.SystemNamespace, Name: name}, ag) != nil {
			return false
		}
		mutate(ag)
		return c.Status().Update(ctx, ag) == nil
	}, 10*time.Second, 50*time.Millisecond)
}

func TestPackageSourceLifecycle(t *testing.T) {
	ctx := context.Background()
	c := startController(t)
	ps := &v1alpha1.PackageSource{
		ObjectMeta: metav1.ObjectMeta{Name: "cozystack.demo"},
		Spec: v1alpha1.PackageSourceSpec{
			SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "cozystack-packages", Namespace: "cozy-system"},
			Variants: []v1alpha1.Variant{
				{Name: "default", Components: []v1alpha1.Component{{Name: "app", Path: "apps/demo"}, {Name: "op", Path: "system/demo-operator", Install: &v1alpha1.ComponentInstall{Namespace: "cozy-demo"}}}},
				{Name: "ha", Components: []v1alpha1.Component{{Name: "op", Path: "system/demo-operator", ValuesFiles: []string{"values.yaml", "values-ha.yaml"}}}},
			},
		},
	}
	require.NoError(t, c.Create(ctx, ps))

	cond := eventuallyReason(t, c, ps.Name, v1alpha1.ReasonArtifactGeneratorNotReady)
	assert.Equal(t, metav1.ConditionUnknown, cond.Status)
	ag := &sw.ArtifactGenerator{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: ps.Name}, ag))
	require.Len(t, ag.Spec.OutputArtifacts, 3)
	assert.Equal(t, "cozystack-demo-ha-op", ag.Spec.OutputArtifacts[2].Name)
	assert.Equal(t, ps.Name, ag.Labels[v1alpha1.LabelPackageSource])
	require.Len(t, ag.OwnerReferences, 1)
	assert.Equal(t, ps.Name, ag.OwnerReferences[0].Name)
	got := &v1alpha1.PackageSource{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: ps.Name}, got))
	assert.Equal(t, "default,ha", got.Status.Variants)

	// source-watcher reports the generator failing: the PackageSource says so in its own words.
	setGeneratorStatus(t, c, ps.Name, func(ag *sw.ArtifactGenerator) {
		apimeta.SetStatusCondition(&ag.Status.Conditions, metav1.Condition{Type: "Ready", Status: "False", Reason: "BuildFailed", Message: "copy @cozystack-packages/apps/demo/**: no match", ObservedGeneration: ag.Generation})
	})
	cond = eventuallyReason(t, c, ps.Name, "BuildFailed")
	assert.Equal(t, metav1.ConditionFalse, cond.Status)
	assert.Equal(t, "copy @cozystack-packages/apps/demo/**: no match", cond.Message)

	setGeneratorStatus(t, c, ps.Name, func(ag *sw.ArtifactGenerator) {
		apimeta.SetStatusCondition(&ag.Status.Conditions, metav1.Condition{Type: "Ready", Status: "True", Reason: "Succeeded", Message: "3 artifacts", ObservedGeneration: ag.Generation})
	})
	cond = eventuallyReason(t, c, ps.Name, "Succeeded")
	assert.Equal(t, metav1.ConditionTrue, cond.Status)
	assert.Equal(t, ps.Generation, cond.ObservedGeneration)

	// An idle reconcile writes nothing: a label change on the PackageSource re-triggers it.
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: ps.Name}, ag))
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: ps.Name}, got))
	got.Labels = map[string]string{"touched": "yes"}
	require.NoError(t, c.Update(ctx, got))
	psRV, agRV := got.ResourceVersion, ag.ResourceVersion
	require.Never(t, func() bool {
		after, agAfter := &v1alpha1.PackageSource{}, &sw.ArtifactGenerator{}
		if c.Get(ctx, client.ObjectKey{Name: ps.Name}, after) != nil || c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: ps.Name}, agAfter) != nil {
			return false
		}
		return after.ResourceVersion != psRV || agAfter.ResourceVersion != agRV
	}, 2*time.Second, 100*time.Millisecond, "a no-op reconcile must not write")
}

// TestStalledGeneratorIsForced plays source-watcher losing its Ready write: artifacts exist,
// Ready stays Unknown past the grace period. The controller forces a reconcile and, once
// source-watcher reports Ready, clears its bookkeeping.
func TestStalledGeneratorIsForced(t *testing.T) {
	ctx := context.Background()
	c := startController(t)
	ps := &v1alpha1.PackageSource{
		ObjectMeta: metav1.ObjectMeta{Name: "cozystack.stall"},
		Spec: v1alpha1.PackageSourceSpec{
			SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "src", Namespace: "cozy-system"},
			Variants:  []v1alpha1.Variant{{Name: "default", Components: []v1alpha1.Component{{Name: "app", Path: "apps/x"}}}},
		},
	}
	require.NoError(t, c.Create(ctx, ps))
	eventuallyReason(t, c, ps.Name, v1alpha1.ReasonArtifactGeneratorNotReady)
	setGeneratorStatus(t, c, ps.Name, func(ag *sw.ArtifactGenerator) {
		ag.Status.Inventory = []sw.ExternalArtifactReference{{Name: "cozystack-stall-default-app", Namespace: "cozy-system", Digest: "sha256:1", Filename: "a.tar.gz"}}
		ag.Status.ObservedSourcesDigest = "sha256:2"
		ag.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: "Unknown", Reason: "Progressing", Message: "building",
			ObservedGeneration: ag.Generation, LastTransitionTime: metav1.NewTime(time.Now().Add(-time.Hour))}}
	})
	cond := eventuallyReason(t, c, ps.Name, v1alpha1.ReasonAwaitingSourceWatcherRecovery)
	assert.Contains(t, cond.Message, "attempt 1/5")
	ag := &sw.ArtifactGenerator{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: ps.Name}, ag))
	assert.Equal(t, "1", ag.Annotations[v1alpha1.AnnotationRecoveryAttempts])
	assert.NotEmpty(t, ag.Annotations[annotationRequestedAt])
	assert.Equal(t, v1alpha1.ReasonSourceWatcherRecoveryForced, apimeta.FindStatusCondition(ag.Status.Conditions, "Ready").Reason)

	setGeneratorStatus(t, c, ps.Name, func(ag *sw.ArtifactGenerator) {
		apimeta.SetStatusCondition(&ag.Status.Conditions, metav1.Condition{Type: "Ready", Status: "True", Reason: "Succeeded", Message: "recovered", ObservedGeneration: ag.Generation})
	})
	eventuallyReason(t, c, ps.Name, "Succeeded")
	require.Eventually(t, func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: ps.Name}, ag) == nil && !hasTracking(ag)
	}, 10*time.Second, 50*time.Millisecond, "tracking cleared once Ready is real")
	assert.NotEmpty(t, ag.Annotations[annotationRequestedAt], "requestedAt stays, as upstream")
}

func TestPackageSourceWithoutSourceRef(t *testing.T) {
	c := startController(t)
	require.NoError(t, c.Create(context.Background(), &v1alpha1.PackageSource{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.nosrc"},
		Spec: v1alpha1.PackageSourceSpec{Variants: []v1alpha1.Variant{{Name: "a"}, {Name: "b"}}}}))
	cond := eventuallyReason(t, c, "cozystack.nosrc", v1alpha1.ReasonSourceRefNotSet)
	assert.Equal(t, metav1.ConditionUnknown, cond.Status)
}
