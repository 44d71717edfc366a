package valuesreplicator

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// namespaceMeta is a Namespace as the replicator knows it: metadata only.
func namespaceMeta(name string) *metav1.PartialObjectMetadata {
	return &metav1.PartialObjectMetadata{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
	}
}

// request is the work item of one namespace: its copy.
func (r *Reconciler) request(namespace string) reconcile.Request {
	return reconcile.Request{NamespacedName: types.NamespacedName{Namespace: namespace, Name: r.SecretName}}
}

// secretEvents turns any event of a copy into work on its namespace, and any event of the
// source into work on every namespace that should hold a copy or holds one.
func (r *Reconciler) secretEvents() handler.TypedEventHandler[*corev1.Secret, reconcile.Request] {
	return handler.TypedEnqueueRequestsFromMapFunc(func(ctx context.Context, s *corev1.Secret) []reconcile.Request {
		if s.Name != r.SecretName {
			return nil
		}
		if s.Namespace != r.SourceNamespace {
			return []reconcile.Request{r.request(s.Namespace)}
		}
		return r.fanOut(ctx)
	})
}

// fanOut lists the namespaces the selector matches and those holding a Secret of our name.
func (r *Reconciler) fanOut(ctx context.Context) []reconcile.Request {
	seen := map[string]bool{r.SourceNamespace: true}
	var reqs []reconcile.Request
	add := func(ns string) {
		if !seen[ns] {
			seen[ns] = true
			reqs = append(reqs, r.request(ns))
		}
	}
	namespaces := &metav1.PartialObjectMetadataList{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "NamespaceList"}}
	if err := r.cache.List(ctx, namespaces, client.MatchingLabelsSelector{Selector: r.Selector}); err != nil {
		// The cache is synced before events flow, so this does not happen in practice.
		log.FromContext(ctx).Error(err, "list namespaces for cozystack-values replication")
	}
	for _, ns := range namespaces.Items {
		add(ns.Name)
	}
	copies := &corev1.SecretList{}
	if err := r.cache.List(ctx, copies); err != nil {
		log.FromContext(ctx).Error(err, "list copies of the values Secret")
	}
	for _, s := range copies.Items {
		add(s.Namespace)
	}
	return reqs
}

// namespaceEvents brings a namespace's copy in line when the namespace appears matching, or
// an update makes it match or stop matching. All namespaces are watched, not just matching
// ones, precisely so that losing the label is an update seen here (a label-filtered watch
// reports it as a deletion). Deletions need nothing: the copy goes with its namespace.
func (r *Reconciler) namespaceEvents() handler.TypedEventHandler[*metav1.PartialObjectMetadata, reconcile.Request] {
	matches := func(o client.Object) bool { return r.Selector.Matches(labels.Set(o.GetLabels())) }
	add := func(q queue, ns string) {
		if ns != r.SourceNamespace {
			q.Add(r.request(ns))
		}
	}
	return handler.TypedFuncs[*metav1.PartialObjectMetadata, reconcile.Request]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[*metav1.PartialObjectMetadata], q queue) {
			if matches(e.Object) {
				add(q, e.Object.Name)
			}
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*metav1.PartialObjectMetadata], q queue) {
			if matches(e.ObjectOld) || matches(e.ObjectNew) {
				add(q, e.ObjectNew.Name)
			}
		},
	}
}
