package install

import (
	"context"
	"errors"
	"fmt"
	"github.com/cozylab/cozylab/internal/kubewatch"
	"io/fs"
	"slices"
	"sort"
	"strings"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// CRDs applies the CustomResourceDefinitions in the named files of fsys, each labelled for the
// platform's deletion guard, and waits up to timeout for all of them to be Established. Any
// object in those files that is not a CRD is refused before anything is applied.
func CRDs(ctx context.Context, c client.WithWatch, fsys fs.FS, names []string, timeout time.Duration) error {
	objs, err := ParseFS(fsys, names...)
	if err != nil {
		return err
	}
	if len(objs) == 0 {
		return errors.New("install CRDs: the manifests hold no objects")
	}
	for _, o := range objs {
		if o.GetAPIVersion() != "apiextensions.k8s.io/v1" || o.GetKind() != "CustomResourceDefinition" {
			return fmt.Errorf("install CRDs: %s %s is not an apiextensions.k8s.io/v1 CustomResourceDefinition", o.GetAPIVersion()+"/"+o.GetKind(), o.GetName())
		}
		labels := o.GetLabels()
		if labels == nil {
			labels = map[string]string{}
		}
		labels[v1alpha1.LabelNoDelete] = "true"
		o.SetLabels(labels)
	}
	if err := Apply(ctx, c, objs); err != nil {
		return fmt.Errorf("install CRDs: %w", err)
	}
	if err := WaitEstablished(ctx, c, crdNames(objs), timeout); err != nil {
		return err
	}
	return waitDiscoverable(ctx, c, objs, timeout)
}

// waitDiscoverable waits until the API server's discovery serves every CRD's kinds: Established
// comes a moment before discovery, and a manager started in between fails to find the kind.
// Nothing can be watched for this, so it is a bounded poll.
func waitDiscoverable(ctx context.Context, c client.Client, crds []*unstructured.Unstructured, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for _, u := range crds {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, crd); err != nil {
			return fmt.Errorf("read CRD %s: %w", u.GetName(), err)
		}
		for _, v := range crd.Spec.Versions {
			if !v.Served {
				continue
			}
			gk := schema.GroupKind{Group: crd.Spec.Group, Kind: crd.Spec.Names.Kind}
			for {
				_, err := c.RESTMapper().RESTMapping(gk, v.Name)
				if err == nil {
					break
				}
				select {
				case <-ctx.Done():
					return fmt.Errorf("wait for %s/%s %s in API discovery: %w (last: %v)", crd.Spec.Group, v.Name, crd.Spec.Names.Kind, ctx.Err(), err)
				case <-tick.C:
				}
			}
		}
	}
	return nil
}

func crdNames(objs []*unstructured.Unstructured) []string {
	var out []string
	for _, o := range objs {
		out = append(out, o.GetName())
	}
	return out
}

// WaitEstablished watches CRDs until every one named is Established, or fails after timeout
// naming those that are not.
func WaitEstablished(ctx context.Context, c client.WithWatch, crds []string, timeout time.Duration) error {
	pending := map[string]bool{}
	for _, n := range crds {
		pending[n] = true
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err := kubewatch.Until(ctx, c, &apiextensionsv1.CustomResourceDefinitionList{}, func(ev watch.Event) (bool, error) {
		crd, ok := ev.Object.(*apiextensionsv1.CustomResourceDefinition)
		if !ok || !pending[crd.Name] {
			return len(pending) == 0, nil
		}
		if established(crd) {
			delete(pending, crd.Name)
		}
		return len(pending) == 0, nil
	})
	if err == nil {
		return nil
	}
	var lagging []string
	for n := range pending {
		lagging = append(lagging, n)
	}
	sort.Strings(lagging)
	return fmt.Errorf("wait for CRDs Established: %s not Established after %s: %w", strings.Join(lagging, ", "), timeout, err)
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	return slices.ContainsFunc(crd.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool {
		return c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
	})
}
