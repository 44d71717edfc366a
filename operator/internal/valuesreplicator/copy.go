package valuesreplicator

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// desiredCopy returns the copy of source that namespace should hold, given the copy it holds
// now (nil when none): the data replaced as a whole, the type copied, the source's labels and
// annotations laid over the copy's own (which are kept), and the copy marked as ours with
// LabelReplicatedFrom. It modifies neither argument.
func desiredCopy(source, existing *corev1.Secret, namespace string) *corev1.Secret {
	var out *corev1.Secret
	if existing != nil {
		out = existing.DeepCopy()
	} else {
		out = &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: source.Name, Namespace: namespace}}
	}
	src := source.DeepCopy()
	out.Type = src.Type
	out.Data = src.Data
	if len(out.Data) == 0 {
		out.Data = nil // the API server returns no data as nil; keep comparisons honest
	}
	out.Labels = overlay(out.Labels, src.Labels)
	out.Labels[LabelReplicatedFrom] = source.Namespace
	out.Annotations = overlay(out.Annotations, src.Annotations)
	if len(out.Annotations) == 0 {
		out.Annotations = nil
	}
	return out
}

// overlay returns base with over's entries added or overwritten; base may be nil.
func overlay(base, over map[string]string) map[string]string {
	if base == nil {
		base = make(map[string]string, len(over)+1)
	}
	maps.Copy(base, over)
	return base
}

// upToDate tells whether existing already is want.
func upToDate(existing, want *corev1.Secret) bool {
	return existing.Type == want.Type &&
		equality.Semantic.DeepEqual(existing.Data, want.Data) &&
		maps.Equal(existing.Labels, want.Labels) &&
		maps.Equal(existing.Annotations, want.Annotations)
}

// mustRecreate tells whether existing cannot be updated into want: a Secret's type is
// immutable, and so is all of an immutable Secret's data (upstream's updates just failed).
func mustRecreate(existing, want *corev1.Secret) bool {
	if existing.Type != want.Type {
		return true
	}
	immutable := existing.Immutable != nil && *existing.Immutable
	return immutable && !equality.Semantic.DeepEqual(existing.Data, want.Data)
}

// isOurs tells whether the replicator made s from the source in sourceNamespace; only such
// copies are ever deleted.
func isOurs(s *corev1.Secret, sourceNamespace string) bool {
	return s.Labels[LabelReplicatedFrom] == sourceNamespace
}
