package sourcewatcher

import (
	"context"
	"fmt"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"
)

// publish creates or updates the ExternalArtifact of one output and its status. Nothing is
// written when the object already says what it should; lastUpdateTime moves only when the
// artifact changes.
func (r *Reconciler) publish(ctx context.Context, ag *sw.ArtifactGenerator, o output) error {
	key := client.ObjectKey{Namespace: ag.Namespace, Name: o.name}
	ea := &sourcev1.ExternalArtifact{}
	err := r.client.Get(ctx, key, ea)
	switch {
	case apierrors.IsNotFound(err):
		ea = &sourcev1.ExternalArtifact{ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name}}
		if err := r.shapeArtifact(ag, ea); err != nil {
			return err
		}
		if err := r.client.Create(ctx, ea); err != nil {
			return fmt.Errorf("create ExternalArtifact %s: %w", key, err)
		}
	case err != nil:
		return fmt.Errorf("get ExternalArtifact %s: %w", key, err)
	default:
		if owner := metav1.GetControllerOf(ea); owner != nil && owner.UID != ag.UID {
			return fmt.Errorf("update ExternalArtifact %s: it belongs to %s %s", key, owner.Kind, owner.Name)
		}
		patch := client.MergeFrom(ea.DeepCopy())
		before := ea.DeepCopy()
		if err := r.shapeArtifact(ag, ea); err != nil {
			return err
		}
		if !equality.Semantic.DeepEqual(before.ObjectMeta, ea.ObjectMeta) || !equality.Semantic.DeepEqual(before.Spec, ea.Spec) {
			if err := r.client.Patch(ctx, ea, patch); err != nil {
				return fmt.Errorf("patch ExternalArtifact %s: %w", key, err)
			}
		}
	}
	return r.publishStatus(ctx, ea, o.artifact)
}

// shapeArtifact sets the label, owner reference and source reference of an ExternalArtifact.
func (r *Reconciler) shapeArtifact(ag *sw.ArtifactGenerator, ea *sourcev1.ExternalArtifact) error {
	labels := ea.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labels[sw.ArtifactGeneratorLabel] = ag.Name
	ea.SetLabels(labels)
	ea.Spec.SourceRef = &meta.NamespacedObjectKindReference{
		APIVersion: sw.GroupVersion.String(), Kind: sw.ArtifactGeneratorKind, Name: ag.Name, Namespace: ag.Namespace,
	}
	if err := controllerutil.SetControllerReference(ag, ea, r.client.Scheme()); err != nil {
		return fmt.Errorf("set owner of ExternalArtifact %s/%s: %w", ea.Namespace, ea.Name, err)
	}
	return nil
}

// publishStatus writes the artifact and a Ready condition through the status subresource.
func (r *Reconciler) publishStatus(ctx context.Context, ea *sourcev1.ExternalArtifact, art meta.Artifact) error {
	patch := client.MergeFrom(ea.DeepCopy())
	before := ea.Status.DeepCopy()
	if old := ea.Status.Artifact; old != nil && sameArtifact(*old, art) {
		art.LastUpdateTime = old.LastUpdateTime
	} else {
		art.LastUpdateTime = metav1.Now()
	}
	ea.Status.Artifact = &art
	apimeta.SetStatusCondition(&ea.Status.Conditions, metav1.Condition{
		Type: readyType, Status: metav1.ConditionTrue, Reason: SucceededReason,
		Message: "stored artifact for revision '" + art.Revision + "'", ObservedGeneration: ea.Generation,
	})
	if equality.Semantic.DeepEqual(before, &ea.Status) {
		return nil
	}
	if err := r.client.Status().Patch(ctx, ea, patch); err != nil {
		return fmt.Errorf("patch ExternalArtifact %s/%s status: %w", ea.Namespace, ea.Name, err)
	}
	return nil
}

// sameArtifact compares two artifacts ignoring lastUpdateTime.
func sameArtifact(a, b meta.Artifact) bool {
	a.LastUpdateTime, b.LastUpdateTime = metav1.Time{}, metav1.Time{}
	return equality.Semantic.DeepEqual(a, b)
}

// removeStale deletes the ExternalArtifacts this generator owns that are no longer among its
// outputs.
func (r *Reconciler) removeStale(ctx context.Context, ag *sw.ArtifactGenerator, keep map[string]bool) error {
	var list sourcev1.ExternalArtifactList
	if err := r.client.List(ctx, &list, client.InNamespace(ag.Namespace), client.MatchingLabels{sw.ArtifactGeneratorLabel: ag.Name}); err != nil {
		return fmt.Errorf("list ExternalArtifacts of %s/%s: %w", ag.Namespace, ag.Name, err)
	}
	for i := range list.Items {
		ea := &list.Items[i]
		if keep[ea.Name] || !metav1.IsControlledBy(ea, ag) {
			continue
		}
		if err := r.client.Delete(ctx, ea); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete stale ExternalArtifact %s/%s: %w", ea.Namespace, ea.Name, err)
		}
	}
	return nil
}
