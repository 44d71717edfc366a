package valuesreplicator

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/source"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

const (
	// ControllerName names the controller in logs and metrics (upstream left it to
	// controller-runtime, which derived "secret").
	ControllerName = "cozystack-values-replicator"
	// DefaultNamespaceSelector selects the namespaces that get a copy, in labels.Parse syntax
	// (the default of the operator's --cozy-values-namespace-selector).
	DefaultNamespaceSelector = v1alpha1.LabelSystem + "=true"
	// LabelReplicatedFrom marks a copy made by the replicator; its value is the source's
	// namespace. Only Secrets carrying it are ever deleted. Upstream marked nothing.
	LabelReplicatedFrom = "operator.cozystack.io/replicated-from"
)

// Reconciler keeps a copy of one Secret in every namespace a selector matches, and deletes the
// copies it made where they no longer belong. The zero value, set up with SetupWithManager,
// replicates cozy-system/cozystack-values into namespaces labelled cozystack.io/system=true.
type Reconciler struct {
	// SecretName is the Secret to replicate, and the name of every copy; empty means
	// v1alpha1.ValuesSecretName.
	SecretName string
	// SourceNamespace holds the source; empty means v1alpha1.SystemNamespace.
	SourceNamespace string
	// Selector picks the namespaces that get a copy; nil means DefaultNamespaceSelector.
	Selector labels.Selector

	client client.Client // writes
	cache  client.Reader // Secrets named SecretName and all Namespaces' metadata

	reconciled func(ctrl.Request) // tests: called after every Reconcile that did not fail
}

// SetupWithManager fills in defaults and registers the controller with mgr. It reads from a
// cache of its own, added to mgr, holding only Secrets named SecretName and the metadata of
// Namespaces; the manager's cache needs no configuration for it, and must not be asked for
// Secrets by anyone unless it is restricted (an unrestricted Secret informer caches them all).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.SecretName == "" {
		r.SecretName = v1alpha1.ValuesSecretName
	}
	if r.SourceNamespace == "" {
		r.SourceNamespace = v1alpha1.SystemNamespace
	}
	if r.Selector == nil {
		r.Selector = labels.SelectorFromSet(labels.Set{v1alpha1.LabelSystem: "true"})
	}
	r.client = mgr.GetClient()
	c, err := cache.New(mgr.GetConfig(), cache.Options{
		HTTPClient:                  mgr.GetHTTPClient(),
		Scheme:                      mgr.GetScheme(),
		Mapper:                      mgr.GetRESTMapper(),
		ByObject:                    map[client.Object]cache.ByObject{&corev1.Secret{}: {Field: fields.OneTermEqualSelector("metadata.name", r.SecretName)}},
		ReaderFailOnMissingInformer: true,
	})
	if err != nil {
		return fmt.Errorf("create the cache of Secrets %s: %w", r.SecretName, err)
	}
	if err := mgr.Add(ownCache{c}); err != nil {
		return fmt.Errorf("add the cache of Secrets %s: %w", r.SecretName, err)
	}
	r.cache = c

	return ctrl.NewControllerManagedBy(mgr).
		Named(ControllerName).
		WatchesRawSource(source.Kind(c, &corev1.Secret{}, r.secretEvents())).
		WatchesRawSource(source.Kind(c, namespaceMeta(""), r.namespaceEvents())).
		Complete(r)
}

// ownCache makes the manager start a cache of ours with its own, before any controller and
// in every replica (the manager recognises runnables that expose GetCache).
type ownCache struct{ cache.Cache }

// GetCache returns the wrapped cache.
func (c ownCache) GetCache() cache.Cache { return c.Cache }
