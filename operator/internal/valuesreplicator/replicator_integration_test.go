//go:build integration

package valuesreplicator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

const name = v1alpha1.ValuesSecretName

var system = map[string]string{v1alpha1.LabelSystem: "true"}

// TestReplication walks one cluster through the life of cozystack-values with the defaults.
func TestReplication(t *testing.T) {
	e := newEnv(t)
	e.namespace(v1alpha1.SystemNamespace, system) // the source's namespace matches too, and is skipped
	e.namespace("cozy-a", system)
	e.namespace("cozy-b", system)
	e.namespace("plain", nil)
	e.namespace("stale", nil)
	// A Secret of the same name that the replicator did not make, and a copy it made before it
	// stopped, in a namespace that has since lost the label.
	mine := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "plain"}, StringData: map[string]string{"mine": "1"}}
	require.NoError(t, e.c.Create(e.ctx, mine))
	require.NoError(t, e.c.Create(e.ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
		Name: name, Namespace: "stale", Labels: map[string]string{LabelReplicatedFrom: v1alpha1.SystemNamespace},
	}}))
	e.start(&Reconciler{})

	t.Run("a copy left over from before start-up is deleted", func(t *testing.T) {
		e := e.in(t)
		e.waitGone("stale", name)
	})

	t.Run("a Secret it did not make is left alone", func(t *testing.T) {
		e := e.in(t)
		e.waitReconciled("plain", 0)
		got := e.secret("plain", name)
		require.NotNil(t, got)
		assert.Equal(t, bytes(map[string]string{"mine": "1"}), got.Data)
		assert.NotContains(t, got.Labels, LabelReplicatedFrom)
	})

	first := map[string]string{"values.yaml": "_cluster: {a: 1}\n", "old.yaml": "x"}
	source := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: v1alpha1.SystemNamespace,
			Labels:      map[string]string{"reconcile.fluxcd.io/watch": "Enabled"},
			Annotations: map[string]string{"source": "platform"},
		},
		Type: corev1.SecretTypeOpaque,
		Data: bytes(first),
	}
	t.Run("the source is copied into matching namespaces", func(t *testing.T) {
		e := e.in(t)
		plain := e.reconciles("plain")
		require.NoError(t, e.c.Create(e.ctx, source))
		for _, ns := range []string{"cozy-a", "cozy-b"} {
			got := e.waitData(ns, name, first)
			assert.Equal(t, corev1.SecretTypeOpaque, got.Type)
			assert.Equal(t, "Enabled", got.Labels["reconcile.fluxcd.io/watch"])
			assert.Equal(t, v1alpha1.SystemNamespace, got.Labels[LabelReplicatedFrom])
			assert.Equal(t, "platform", got.Annotations["source"])
		}
		e.waitReconciled("plain", plain) // it holds a Secret of the name, so the source's event reaches it
		assert.Equal(t, bytes(map[string]string{"mine": "1"}), e.secret("plain", name).Data, "not a matching namespace")
	})

	t.Run("an update replaces the data and keeps the copy's own labels", func(t *testing.T) {
		e := e.in(t)
		cp := e.secret("cozy-a", name)
		cp.Labels["local"] = "kept"
		require.NoError(t, e.c.Update(e.ctx, cp))
		src := e.secret(v1alpha1.SystemNamespace, name)
		src.Data = bytes(map[string]string{"values.yaml": "_cluster: {a: 2}\n"})
		src.Labels["reconcile.fluxcd.io/watch"] = "Disabled"
		require.NoError(t, e.c.Update(e.ctx, src))
		for _, ns := range []string{"cozy-a", "cozy-b"} {
			got := e.waitData(ns, name, map[string]string{"values.yaml": "_cluster: {a: 2}\n"})
			assert.Equal(t, "Disabled", got.Labels["reconcile.fluxcd.io/watch"])
		}
		assert.Equal(t, "kept", e.secret("cozy-a", name).Labels["local"])
	})

	want := map[string]string{"values.yaml": "_cluster: {a: 2}\n"}
	t.Run("a copy edited by hand is restored", func(t *testing.T) {
		e := e.in(t)
		cp := e.secret("cozy-a", name)
		cp.Data["values.yaml"] = []byte("tampered")
		require.NoError(t, e.c.Update(e.ctx, cp))
		e.waitData("cozy-a", name, want)
	})

	t.Run("a copy deleted by hand is recreated", func(t *testing.T) {
		e := e.in(t)
		old := e.secret("cozy-a", name)
		require.NoError(t, e.c.Delete(e.ctx, old))
		got := e.waitSecret("cozy-a", name, "is recreated", func(s *corev1.Secret) bool { return s != nil && s.UID != old.UID })
		assert.Equal(t, bytes(want), got.Data)
	})

	t.Run("a namespace that gains the label gets a copy", func(t *testing.T) {
		e := e.in(t)
		e.namespace("late", nil)
		e.setNamespaceLabels("late", system)
		e.waitData("late", name, want)
	})

	t.Run("a namespace that loses the label loses its copy", func(t *testing.T) {
		e := e.in(t)
		e.setNamespaceLabels("cozy-b", map[string]string{"other": "label"})
		e.waitGone("cozy-b", name)
	})

	t.Run("a Secret in a namespace that gains the label is taken over", func(t *testing.T) {
		e := e.in(t)
		// As upstream: the copy's data is the source's; it is marked, so it is ours to delete.
		e.setNamespaceLabels("plain", system)
		got := e.waitData("plain", name, want)
		assert.Equal(t, v1alpha1.SystemNamespace, got.Labels[LabelReplicatedFrom])
	})

	t.Run("the source deleted takes every copy with it", func(t *testing.T) {
		e := e.in(t)
		require.NoError(t, e.c.Delete(e.ctx, e.secret(v1alpha1.SystemNamespace, name)))
		for _, ns := range []string{"cozy-a", "late", "plain"} {
			e.waitGone(ns, name)
		}
	})
}

// TestReplicationOptions replicates another Secret from another namespace by another selector.
func TestReplicationOptions(t *testing.T) {
	e := newEnv(t)
	selector, err := labels.Parse("tier in (system,infra)")
	require.NoError(t, err)
	e.namespace("src", map[string]string{"tier": "system"})
	e.namespace("one", map[string]string{"tier": "infra"})
	e.namespace("two", map[string]string{"tier": "apps"})
	e.namespace("three", system)
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "shared", Namespace: "src"}, Type: "example.com/shared", StringData: map[string]string{"k": "v"}},
		{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "src"}, StringData: map[string]string{"not": "replicated"}},
	} {
		require.NoError(t, e.c.Create(e.ctx, s))
	}
	e.start(&Reconciler{SecretName: "shared", SourceNamespace: "src", Selector: selector})

	got := e.waitData("one", "shared", map[string]string{"k": "v"})
	assert.Equal(t, corev1.SecretType("example.com/shared"), got.Type)
	assert.Equal(t, "src", got.Labels[LabelReplicatedFrom])
	// A namespace relabelled into the selector gets a copy; one matching only the default never does.
	e.setNamespaceLabels("two", map[string]string{"tier": "system"})
	e.waitData("two", "shared", map[string]string{"k": "v"})
	assert.Nil(t, e.secret("three", "shared"), "three does not match")
	assert.Nil(t, e.secret("one", name), "only the configured Secret is replicated")
	assert.NotContains(t, e.secret("src", "shared").Labels, LabelReplicatedFrom, "the source namespace matches but is skipped")
}
