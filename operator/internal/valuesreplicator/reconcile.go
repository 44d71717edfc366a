package valuesreplicator

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"
)

// Reconcile brings the copy in one namespace (req.Namespace) in line: present and equal to the
// source where the namespace matches and the source exists, absent (if it is ours) otherwise.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	err := r.reconcile(ctx, req)
	if err == nil && r.reconciled != nil {
		r.reconciled(req)
	}
	return ctrl.Result{}, err
}

func (r *Reconciler) reconcile(ctx context.Context, req ctrl.Request) error {
	if req.Name != r.SecretName || req.Namespace == r.SourceNamespace {
		return nil
	}
	ns := namespaceMeta(req.Namespace)
	if err := r.cache.Get(ctx, client.ObjectKeyFromObject(ns), ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil // the copy went with the namespace
		}
		return fmt.Errorf("get namespace %s: %w", req.Namespace, err)
	}
	if ns.DeletionTimestamp != nil {
		return nil // nothing can be created in it, and the copy goes with it
	}
	existing, err := r.secret(ctx, req.NamespacedName)
	if err != nil {
		return err
	}
	if !r.Selector.Matches(labels.Set(ns.Labels)) {
		return r.remove(ctx, existing, "the namespace does not match "+r.Selector.String())
	}
	source, err := r.secret(ctx, types.NamespacedName{Namespace: r.SourceNamespace, Name: r.SecretName})
	if err != nil {
		return err
	}
	if source == nil {
		return r.remove(ctx, existing, "the source is gone")
	}
	return r.write(ctx, source, existing, req.Namespace)
}

// secret returns the Secret at key from the cache, nil if there is none.
func (r *Reconciler) secret(ctx context.Context, key types.NamespacedName) (*corev1.Secret, error) {
	s := &corev1.Secret{}
	if err := r.cache.Get(ctx, key, s); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("get Secret %s: %w", key, err)
	}
	return s, nil
}

// remove deletes existing if the replicator made it. The UID precondition keeps a Secret
// someone recreated meanwhile safe.
func (r *Reconciler) remove(ctx context.Context, existing *corev1.Secret, why string) error {
	if existing == nil {
		return nil
	}
	logger := log.FromContext(ctx)
	if !isOurs(existing, r.SourceNamespace) {
		logger.V(1).Info("leaving a Secret the replicator did not make", "reason", why)
		return nil
	}
	if err := r.client.Delete(ctx, existing, client.Preconditions{UID: &existing.UID}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete Secret %s/%s: %w", existing.Namespace, existing.Name, err)
	}
	logger.Info("deleted the copy", "reason", why)
	return nil
}

// write creates or updates the copy; one whose type or immutability forbids the update is
// deleted and created afresh.
func (r *Reconciler) write(ctx context.Context, source, existing *corev1.Secret, namespace string) error {
	want := desiredCopy(source, existing, namespace)
	if existing != nil && upToDate(existing, want) {
		return nil
	}
	if existing != nil && mustRecreate(existing, want) {
		if err := r.client.Delete(ctx, existing, client.Preconditions{UID: &existing.UID}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete Secret %s/%s to recreate it: %w", namespace, want.Name, err)
		}
		want = &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: want.Name, Namespace: namespace, Labels: want.Labels, Annotations: want.Annotations},
			Type:       want.Type,
			Data:       want.Data,
		}
		existing = nil
	}
	if existing == nil {
		if err := r.client.Create(ctx, want); err != nil {
			return fmt.Errorf("create Secret %s/%s: %w", namespace, want.Name, err)
		}
		log.FromContext(ctx).Info("created the copy")
		return nil
	}
	if err := r.client.Update(ctx, want); err != nil {
		return fmt.Errorf("update Secret %s/%s: %w", namespace, want.Name, err)
	}
	log.FromContext(ctx).Info("updated the copy")
	return nil
}
