// Package kubewatch waits for Kubernetes objects by watching them: one list-then-watch loop for
// every wait of the repository (the e2e's, the operator's CRD wait, the local lab's nodes), so a
// dropped watch resumes from its last resource version everywhere.
package kubewatch

import (
	"context"
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
)

// Until lists and watches the objects of list's kind, narrowed by opts, and passes every
// event to cond until it returns true or an error, or ctx ends (then it returns ctx.Err()). The
// listing arrives as Added events, so a condition that already holds ends the watch at once; a
// dropped watch resumes from the last resource version instead of missing what changed.
func Until(ctx context.Context, c client.WithWatch, list client.ObjectList, cond watchtools.ConditionFunc, opts ...client.ListOption) error {
	item, err := itemOf(c.Scheme(), list)
	if err != nil {
		return err
	}
	// The watch machinery's own options (resource version, bookmarks, timeout) go first; the
	// caller's selectors are separate fields of client.ListOptions and survive them.
	with := func(raw metav1.ListOptions) []client.ListOption {
		return append([]client.ListOption{rawListOptions{raw}}, opts...)
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l := list.DeepCopyObject().(client.ObjectList)
			return l, c.List(ctx, l, with(o)...)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, list.DeepCopyObject().(client.ObjectList), with(o)...)
		},
	}
	_, err = watchtools.UntilWithSync(ctx, lw, item, nil, cond)
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// itemOf returns an empty object of the kind list holds (a PackageList holds Packages).
func itemOf(s *runtime.Scheme, list client.ObjectList) (runtime.Object, error) {
	gvk, err := apiutil.GVKForObject(list, s)
	if err != nil {
		return nil, fmt.Errorf("find the kind of %T: %w", list, err)
	}
	gvk.Kind = strings.TrimSuffix(gvk.Kind, "List")
	obj, err := s.New(gvk)
	if err != nil {
		return nil, fmt.Errorf("create a %s: %w", gvk.Kind, err)
	}
	return obj, nil
}

// rawListOptions passes the watch machinery's list options (resource version, timeouts) on.
type rawListOptions struct{ raw metav1.ListOptions }

func (o rawListOptions) ApplyToList(lo *client.ListOptions) {
	raw := o.raw
	lo.Raw = &raw
}
