package appdef

import (
	"context"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// GroupVersionResource is the resource the finder lists. Errors name it, so a wrong group or a
// missing CRD is told apart from a kind nobody defines.
var GroupVersionResource = schema.GroupVersionResource{
	Group:    v1alpha1.GroupVersion.Group,
	Version:  v1alpha1.GroupVersion.Version,
	Resource: "applicationdefinitions",
}

// resourceName is GroupVersionResource as kubectl spells it: applicationdefinitions.cozystack.io/v1alpha1.
var resourceName = GroupVersionResource.Resource + "." + GroupVersionResource.Group + "/" + GroupVersionResource.Version

// ErrNotFound is matched (errors.Is) by the error returned when no ApplicationDefinition
// declares the requested kind. A failed list is a different error.
var ErrNotFound = errors.New("ApplicationDefinition not found")

// NotFoundError says which kind no ApplicationDefinition declares; errors.Is(err, ErrNotFound)
// holds for it.
type NotFoundError struct {
	// Kind is the spec.application.kind that was looked for.
	Kind string
}

// Error names the kind and the resource that was searched.
func (e *NotFoundError) Error() string {
	return fmt.Sprintf("no ApplicationDefinition has spec.application.kind %q in %s", e.Kind, resourceName)
}

// Is makes errors.Is(err, ErrNotFound) true.
func (e *NotFoundError) Is(target error) bool { return target == ErrNotFound }

// Lister is the one method the finder needs; every controller-runtime client.Reader (a
// manager's cache or client, a direct client) has it.
type Lister interface {
	List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error
}

// Finder looks ApplicationDefinitions up by kind. The zero PageSize lists in one request.
type Finder struct {
	// Reader lists ApplicationDefinitions; its scheme must know cozystack.io/v1alpha1.
	Reader Lister
	// PageSize, when positive, lists in pages of that many objects (Limit and Continue). Only
	// for a direct client: a controller-runtime cache does not support continue tokens.
	PageSize int64
}

// FindByKind returns a copy of the ApplicationDefinition whose spec.application.kind equals
// kind, listing with r in one request. See Finder.ByKind.
func FindByKind(ctx context.Context, r Lister, kind string) (*v1alpha1.ApplicationDefinition, error) {
	return Finder{Reader: r}.ByKind(ctx, kind)
}

// ByKind returns a copy of the ApplicationDefinition whose spec.application.kind equals kind
// (case-sensitive: HTTPCache, not httpcache). Should several declare it — the aggregated API
// would serve only one — the one with the lowest metadata.name wins, so a cache and a direct
// client agree. No match gives a *NotFoundError.
func (f Finder) ByKind(ctx context.Context, kind string) (*v1alpha1.ApplicationDefinition, error) {
	if kind == "" {
		return nil, errors.New("find ApplicationDefinition: the kind is empty")
	}
	var best *v1alpha1.ApplicationDefinition
	opts := []client.ListOption{}
	if f.PageSize > 0 {
		opts = append(opts, client.Limit(f.PageSize))
	}
	for page := 1; ; page++ {
		list := &v1alpha1.ApplicationDefinitionList{}
		if err := f.Reader.List(ctx, list, opts...); err != nil {
			if page > 1 {
				return nil, fmt.Errorf("list %s (page %d): %w", resourceName, page, err)
			}
			return nil, fmt.Errorf("list %s: %w", resourceName, err)
		}
		best = pick(best, list.Items, kind)
		// A cache always sets a continue token it cannot honour, so follow it only when paging.
		if f.PageSize <= 0 || list.Continue == "" {
			break
		}
		opts = []client.ListOption{client.Limit(f.PageSize), client.Continue(list.Continue)}
	}
	if best == nil {
		return nil, &NotFoundError{Kind: kind}
	}
	return best, nil
}

// pick returns the definition of kind with the lowest name among best and items, as a copy.
func pick(best *v1alpha1.ApplicationDefinition, items []v1alpha1.ApplicationDefinition, kind string) *v1alpha1.ApplicationDefinition {
	for i := range items {
		if items[i].Spec.Application.Kind != kind {
			continue
		}
		if best == nil || items[i].Name < best.Name {
			best = items[i].DeepCopy()
		}
	}
	return best
}
