package install

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// FieldOwner is the field manager of everything the operator installs.
const FieldOwner = "cozystack-operator"

// Apply server-side applies objs one at a time, in order, taking ownership of conflicting fields.
func Apply(ctx context.Context, c client.Client, objs []*unstructured.Unstructured) error {
	for _, o := range objs {
		if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(o), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s %s: %w", o.GetKind(), objectName(o), err)
		}
	}
	return nil
}

func objectName(o *unstructured.Unstructured) string {
	if ns := o.GetNamespace(); ns != "" {
		return ns + "/" + o.GetName()
	}
	return o.GetName()
}

// Unstructured converts a typed object (with its TypeMeta set) for server-side apply, dropping
// the zero creationTimestamp and status that typed objects carry, which apply must not claim.
func Unstructured(obj client.Object) (*unstructured.Unstructured, error) {
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return nil, fmt.Errorf("convert %T %s: %w", obj, obj.GetName(), err)
	}
	u := &unstructured.Unstructured{Object: raw}
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	return u, nil
}

// ApplyObjects converts typed objects and applies them in order (see Apply).
func ApplyObjects(ctx context.Context, c client.Client, objs ...client.Object) error {
	var us []*unstructured.Unstructured
	for _, o := range objs {
		u, err := Unstructured(o)
		if err != nil {
			return err
		}
		us = append(us, u)
	}
	return Apply(ctx, c, us)
}
