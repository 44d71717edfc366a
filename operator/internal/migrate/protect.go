package migrate

import (
	"context"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// protectPlatformObjects is migration 1. The deletion-guard admission policy only protects
// objects labelled platform.cozystack.io/no-delete=true, and installs older than the guard lack
// the label on the two objects whose loss breaks the platform: its namespace (deleting it
// removes everything the operator runs) and the cozystack-version record (deleting it makes the
// next upgrade look like a fresh install and skip every migration). New installs get the label
// when these objects are created; the chart never re-renders them, so upgrades need this
// backfill (upstream migration 42 did the same for the ConfigMap).
//
// The cozystack-values Secret is deliberately left alone although it sits in the same
// namespace: the operator copies the Secret's labels onto its replicas in every system
// namespace, so the label would make the guard refuse deleting those namespaces.
func protectPlatformObjects(namespace string) func(context.Context, client.Client) error {
	return func(ctx context.Context, c client.Client) error {
		targets := []struct {
			kind string
			key  client.ObjectKey
		}{
			{kind: "Namespace", key: client.ObjectKey{Name: namespace}},
			{kind: "ConfigMap", key: client.ObjectKey{Namespace: namespace, Name: VersionConfigMap}},
		}
		for _, t := range targets {
			obj := &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: t.kind}}
			if err := ensureLabel(ctx, c, obj, t.key, v1alpha1.LabelNoDelete, "true"); err != nil {
				return err
			}
		}
		return nil
	}
}

// ensureLabel sets label key=value on the object at key, touching nothing else. A missing
// object or one already labelled is left alone.
func ensureLabel(ctx context.Context, c client.Client, obj *metav1.PartialObjectMetadata, key client.ObjectKey, label, value string) error {
	if err := c.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("get %s %s: %w", obj.Kind, key, err)
	}
	if obj.Labels[label] == value {
		return nil
	}
	base := obj.DeepCopy()
	if obj.Labels == nil {
		obj.Labels = map[string]string{}
	}
	obj.Labels[label] = value
	if err := c.Patch(ctx, obj, client.MergeFrom(base), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("label %s %s %s=%s: %w", obj.Kind, key, label, value, err)
	}
	return nil
}
