package appdefcontroller

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

type queue = workqueue.TypedRateLimitingInterface[reconcile.Request]

// SetupWithManager fills in defaults and registers the controller with mgr. Definitions are
// read from mgr's cache; the Deployment from a cache of its own, added to mgr, that holds only
// that Deployment, so the manager's cache needs no configuration for it.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.Debounce <= 0 {
		r.Debounce = DefaultDebounce
	}
	if r.Deployment == (types.NamespacedName{}) {
		r.Deployment = types.NamespacedName{Namespace: v1alpha1.SystemNamespace, Name: DefaultDeploymentName}
	}
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	r.changes = &debouncer{clock: r.Clock, window: r.Debounce}
	r.client = mgr.GetClient()

	deployments, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient:                  mgr.GetHTTPClient(),
		Scheme:                      mgr.GetScheme(),
		Mapper:                      mgr.GetRESTMapper(),
		DefaultNamespaces:           map[string]cache.Config{r.Deployment.Namespace: {}},
		ByObject:                    map[client.Object]cache.ByObject{&appsv1.Deployment{}: {Field: fields.OneTermEqualSelector("metadata.name", r.Deployment.Name)}},
		ReaderFailOnMissingInformer: true,
	})
	if err != nil {
		return fmt.Errorf("create the cache of Deployment %s: %w", r.Deployment, err)
	}
	if err := mgr.Add(ownCache{deployments}); err != nil {
		return fmt.Errorf("add the cache of Deployment %s: %w", r.Deployment, err)
	}
	r.deployments = deployments

	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		WatchesRawSource(source.Kind(mgr.GetCache(), &v1alpha1.ApplicationDefinition{}, r.definitionEvents())).
		WatchesRawSource(source.Kind(deployments, &appsv1.Deployment{}, r.deploymentEvents())).
		Complete(r)
}

// ownCache makes the manager start a cache of ours with its own, before any controller and
// in every replica (the manager recognises runnables that expose GetCache).
type ownCache struct{ cache.Cache }

// GetCache returns the wrapped cache.
func (c ownCache) GetCache() cache.Cache { return c.Cache }

func (r *Reconciler) request() reconcile.Request {
	return reconcile.Request{NamespacedName: r.Deployment}
}

// definitionEvents records every change of the set — the initial list at start-up included —
// and schedules an evaluation for when the window could have passed. An update that leaves
// the generation alone (labels, annotations) cannot change the hash and is ignored.
func (r *Reconciler) definitionEvents() handler.TypedEventHandler[*v1alpha1.ApplicationDefinition, reconcile.Request] {
	changed := func(q queue) {
		r.changes.record()
		q.AddAfter(r.request(), r.Debounce)
	}
	return handler.TypedFuncs[*v1alpha1.ApplicationDefinition, reconcile.Request]{
		CreateFunc: func(_ context.Context, _ event.TypedCreateEvent[*v1alpha1.ApplicationDefinition], q queue) {
			changed(q)
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*v1alpha1.ApplicationDefinition], q queue) {
			if e.ObjectOld.GetGeneration() != e.ObjectNew.GetGeneration() {
				changed(q)
			}
		},
		DeleteFunc: func(_ context.Context, _ event.TypedDeleteEvent[*v1alpha1.ApplicationDefinition], q queue) {
			changed(q)
		},
		GenericFunc: func(_ context.Context, _ event.TypedGenericEvent[*v1alpha1.ApplicationDefinition], q queue) {
			changed(q)
		},
	}
}

// deploymentEvents evaluates when the Deployment appears (upstream waited for the next
// definition change) or when its hash annotation is changed by someone else.
func (r *Reconciler) deploymentEvents() handler.TypedEventHandler[*appsv1.Deployment, reconcile.Request] {
	return handler.TypedFuncs[*appsv1.Deployment, reconcile.Request]{
		CreateFunc: func(_ context.Context, _ event.TypedCreateEvent[*appsv1.Deployment], q queue) { q.Add(r.request()) },
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[*appsv1.Deployment], q queue) {
			if configHash(e.ObjectOld) != configHash(e.ObjectNew) {
				q.Add(r.request())
			}
		},
	}
}

func configHash(d *appsv1.Deployment) string {
	return d.Spec.Template.Annotations[v1alpha1.AnnotationConfigHash]
}
