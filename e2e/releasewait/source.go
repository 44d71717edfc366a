package releasewait

import (
	"context"
	"fmt"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/tools/cache"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// source is one kind the waiter watches: where its objects are and how one is classified.
type source struct {
	kind      Kind
	resource  schema.GroupVersionResource
	namespace string
	selector  string
	decode    func(*unstructured.Unstructured) (Observation, error)
}

// sources are the kinds Wait watches, Packages first: the confirming listing must read them
// before the HelmReleases they declare (see confirm); then the ExternalArtifacts the releases'
// charts come from.
func sources(opts Options) []source {
	return []source{
		{kind: PackageKind, resource: v1alpha1.GroupVersion.WithResource("packages"), decode: decodePackage},
		{kind: HelmReleaseKind, resource: helmv2.GroupVersion.WithResource("helmreleases"),
			namespace: opts.Namespace, selector: opts.LabelSelector, decode: decodeHelmRelease},
		{kind: ExternalArtifactKind, resource: sourcev1.GroupVersion.WithResource("externalartifacts"), decode: decodeExternalArtifact},
	}
}

// decodeExternalArtifact keeps what the waiter needs of an ExternalArtifact: the revision it
// serves now.
func decodeExternalArtifact(u *unstructured.Unstructured) (Observation, error) {
	a := &sourcev1.ExternalArtifact{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, a); err != nil {
		return Observation{}, fmt.Errorf("decode ExternalArtifact %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	o := Observation{Kind: ExternalArtifactKind, Namespace: a.Namespace, Name: a.Name, ResourceVersion: a.ResourceVersion, State: Ready}
	if a.Status.Artifact != nil {
		o.Revision = a.Status.Artifact.Revision
	}
	return o, nil
}

func decodeHelmRelease(u *unstructured.Unstructured) (Observation, error) {
	hr := &helmv2.HelmRelease{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, hr); err != nil {
		return Observation{}, fmt.Errorf("decode HelmRelease %s/%s: %w", u.GetNamespace(), u.GetName(), err)
	}
	return Classify(hr), nil
}

func decodePackage(u *unstructured.Unstructured) (Observation, error) {
	p := &v1alpha1.Package{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, p); err != nil {
		return Observation{}, fmt.Errorf("decode Package %s: %w", u.GetName(), err)
	}
	return ClassifyPackage(p), nil
}

// informer watches the source's objects (no resync: every change is an event).
func (s source) informer(c dynamic.Interface) cache.SharedIndexInformer {
	return dynamicinformer.NewFilteredDynamicInformer(c, s.resource, s.namespace, 0, cache.Indexers{},
		func(lo *metav1.ListOptions) { lo.LabelSelector = s.selector }).Informer()
}

// list reads the source's objects straight from the API server. With no resource version the
// read is consistent: it shows every write that completed before it, which an informer's first
// list (served from the API server's watch cache) does not promise.
func (s source) list(ctx context.Context, c dynamic.Interface) ([]Observation, error) {
	l, err := c.Resource(s.resource).Namespace(s.namespace).List(ctx, metav1.ListOptions{LabelSelector: s.selector})
	if err != nil {
		return nil, fmt.Errorf("list %ss: %w", s.kind, err)
	}
	out := make([]Observation, 0, len(l.Items))
	for i := range l.Items {
		o, err := s.decode(&l.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, o)
	}
	return out, nil
}
