package valuesreplicator

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func sourceSecret() *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Name: "cozystack-values", Namespace: "cozy-system", ResourceVersion: "7", UID: "source-uid",
			Labels:      map[string]string{"reconcile.fluxcd.io/watch": "Enabled"},
			Annotations: map[string]string{"note": "from source"},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{"values.yaml": []byte("_cluster: {}\n")},
	}
}

func TestDesiredCopy(t *testing.T) {
	t.Run("a new copy", func(t *testing.T) {
		got := desiredCopy(sourceSecret(), nil, "cozy-cilium")
		assert.Equal(t, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: "cozystack-values", Namespace: "cozy-cilium",
				Labels:      map[string]string{"reconcile.fluxcd.io/watch": "Enabled", LabelReplicatedFrom: "cozy-system"},
				Annotations: map[string]string{"note": "from source"},
			},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"values.yaml": []byte("_cluster: {}\n")},
		}, got)
	})

	t.Run("an existing copy", func(t *testing.T) {
		existing := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{
				Name: "cozystack-values", Namespace: "cozy-cilium", ResourceVersion: "3", UID: "copy-uid",
				Labels:      map[string]string{"reconcile.fluxcd.io/watch": "Disabled", "extra": "kept"},
				Annotations: map[string]string{"note": "local", "other": "kept"},
			},
			Type: corev1.SecretTypeOpaque,
			Data: map[string][]byte{"values.yaml": []byte("old"), "stale.yaml": []byte("gone")},
		}
		got := desiredCopy(sourceSecret(), existing, "cozy-cilium")
		assert.Equal(t, "3", got.ResourceVersion, "updates are made on the version read")
		assert.Equal(t, map[string][]byte{"values.yaml": []byte("_cluster: {}\n")}, got.Data, "data is replaced, not merged")
		assert.Equal(t, map[string]string{"reconcile.fluxcd.io/watch": "Enabled", "extra": "kept", LabelReplicatedFrom: "cozy-system"}, got.Labels)
		assert.Equal(t, map[string]string{"note": "from source", "other": "kept"}, got.Annotations)
		assert.Equal(t, []byte("old"), existing.Data["values.yaml"], "the input is left alone")
		assert.Equal(t, "Disabled", existing.Labels["reconcile.fluxcd.io/watch"])
		assert.False(t, upToDate(existing, got))
		assert.True(t, upToDate(got, desiredCopy(sourceSecret(), got, "cozy-cilium")), "a second pass changes nothing")
	})

	t.Run("a source without data", func(t *testing.T) {
		src := sourceSecret()
		src.Data = map[string][]byte{}
		src.Annotations = nil
		got := desiredCopy(src, nil, "x")
		assert.Nil(t, got.Data)
		assert.Nil(t, got.Annotations)
	})

	t.Run("the source cannot unmark a copy", func(t *testing.T) {
		src := sourceSecret()
		src.Labels[LabelReplicatedFrom] = "elsewhere"
		assert.Equal(t, "cozy-system", desiredCopy(src, nil, "x").Labels[LabelReplicatedFrom])
	})
}

func TestMustRecreate(t *testing.T) {
	want := desiredCopy(sourceSecret(), nil, "x")
	for _, tc := range []struct {
		name     string
		existing func(*corev1.Secret)
		recreate bool
	}{
		{name: "same type, mutable", existing: func(s *corev1.Secret) { s.Data = nil }},
		{name: "another type", existing: func(s *corev1.Secret) { s.Type = corev1.SecretTypeDockerConfigJson }, recreate: true},
		{name: "immutable with other data", existing: func(s *corev1.Secret) { s.Immutable = ptr.To(true); s.Data = nil }, recreate: true},
		{name: "immutable with the same data", existing: func(s *corev1.Secret) { s.Immutable = ptr.To(true); s.Labels = nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			existing := want.DeepCopy()
			tc.existing(existing)
			assert.Equal(t, tc.recreate, mustRecreate(existing, want))
		})
	}
}

func TestIsOurs(t *testing.T) {
	for _, tc := range []struct {
		labels map[string]string
		ours   bool
	}{
		{labels: nil},
		{labels: map[string]string{"other": "x"}},
		{labels: map[string]string{LabelReplicatedFrom: "another-source"}},
		{labels: map[string]string{LabelReplicatedFrom: "cozy-system"}, ours: true},
	} {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Labels: tc.labels}}
		assert.Equal(t, tc.ours, isOurs(s, "cozy-system"), "%v", tc.labels)
	}
}
