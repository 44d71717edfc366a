package packageloop

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// FieldManager is the field manager helm-controller's drift detection dry-runs with; Diff uses
// it so ownership conflicts show as they would for the controller.
const FieldManager = "helm-controller"

// Change says what would happen to one object.
type Change string

// Changes Diff reports.
const (
	ChangeCreate Change = "create"
	ChangeUpdate Change = "update"
	ChangeDelete Change = "delete"
)

// ObjectDiff is the change to one object, with a unified diff of its YAML (live → merged).
type ObjectDiff struct {
	Change                      Change
	Kind, Namespace, Name, Diff string
}

// ID names the object as Kind/namespace/name (Kind/name when cluster-scoped).
func (d ObjectDiff) ID() string {
	if d.Namespace == "" {
		return d.Kind + "/" + d.Name
	}
	return d.Kind + "/" + d.Namespace + "/" + d.Name
}

// DiffResult lists the objects an apply would change; it is empty when nothing would.
type DiffResult struct {
	Objects []ObjectDiff
}

// Changed reports whether an apply would change anything.
func (r DiffResult) Changed() bool { return len(r.Objects) > 0 }

// Format renders the result as unified diffs, coloured for a terminal when color is set, ending
// with a one-line summary.
func (r DiffResult) Format(color bool) string {
	var b strings.Builder
	for _, o := range r.Objects {
		if color {
			b.WriteString(colorize(o.Diff))
		} else {
			b.WriteString(o.Diff)
		}
	}
	if !r.Changed() {
		b.WriteString("no changes\n")
		return b.String()
	}
	counts := map[Change]int{}
	for _, o := range r.Objects {
		counts[o.Change]++
	}
	fmt.Fprintf(&b, "changed: %d to create, %d to update, %d to delete\n", counts[ChangeCreate], counts[ChangeUpdate], counts[ChangeDelete])
	return b.String()
}

// Diff compares what Apply would install with the live objects: every rendered object is
// applied server-side in dry-run mode (field manager helm-controller, conflicts forced) and the
// result compared with the live object, so hand edits show; objects of the current release
// that the render no longer has are reported as deletions.
func Diff(ctx context.Context, opts Options) (DiffResult, error) {
	s, err := open(ctx, opts)
	if err != nil {
		return DiffResult{}, err
	}
	cfg, err := s.helmConfig()
	if err != nil {
		return DiffResult{}, err
	}
	r, err := s.render(ctx, cfg)
	if err != nil {
		return DiffResult{}, err
	}
	desired, err := parseObjects(r.release.Manifest)
	if err != nil {
		return DiffResult{}, err
	}
	var res DiffResult
	rendered := map[string]bool{}
	for _, obj := range desired {
		d, err := s.diffObject(ctx, obj)
		if err != nil {
			return DiffResult{}, err
		}
		rendered[d.ID()] = true
		if d.Diff != "" {
			res.Objects = append(res.Objects, d)
		}
	}
	if r.last == nil {
		return res, nil
	}
	old, err := parseObjects(r.last.Manifest)
	if err != nil {
		return DiffResult{}, err
	}
	for _, obj := range old {
		d, err := s.removal(ctx, obj)
		if err != nil {
			return DiffResult{}, err
		}
		if !rendered[d.ID()] && d.Diff != "" {
			res.Objects = append(res.Objects, d)
		}
	}
	return res, nil
}

// resource finds obj's API resource and fills in the target namespace for namespaced objects.
func (s *session) resource(obj *unstructured.Unstructured) (dynamic.ResourceInterface, *meta.RESTMapping, error) {
	gvk := obj.GroupVersionKind()
	m, err := s.mapper.RESTMapping(gvk.GroupKind(), gvk.Version)
	if err != nil {
		return nil, nil, fmt.Errorf("find API resource of %s %s: %w", gvk, obj.GetName(), err)
	}
	if m.Scope.Name() != meta.RESTScopeNameNamespace {
		obj.SetNamespace("")
		return s.dynamic.Resource(m.Resource), m, nil
	}
	if obj.GetNamespace() == "" {
		obj.SetNamespace(s.target.Namespace)
	}
	return s.dynamic.Resource(m.Resource).Namespace(obj.GetNamespace()), m, nil
}

// diffObject dry-runs obj against the cluster and diffs the result with the live object.
func (s *session) diffObject(ctx context.Context, obj *unstructured.Unstructured) (ObjectDiff, error) {
	ri, _, err := s.resource(obj)
	if err != nil {
		return ObjectDiff{}, err
	}
	d := ObjectDiff{Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(), Change: ChangeUpdate}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		live, d.Change = nil, ChangeCreate
	case err != nil:
		return ObjectDiff{}, fmt.Errorf("get %s: %w", d.ID(), err)
	}
	data, err := json.Marshal(obj.Object)
	if err != nil {
		return ObjectDiff{}, fmt.Errorf("encode %s: %w", d.ID(), err)
	}
	merged, err := ri.Patch(ctx, obj.GetName(), types.ApplyPatchType, data, metav1.PatchOptions{
		DryRun: []string{metav1.DryRunAll}, FieldManager: FieldManager, Force: ptr.To(true),
	})
	if err != nil {
		return ObjectDiff{}, fmt.Errorf("dry-run apply %s: %w", d.ID(), err)
	}
	d.Diff, err = diffYAML(d.ID(), live, merged)
	return d, err
}

// removal is the deletion of obj when it still exists.
func (s *session) removal(ctx context.Context, obj *unstructured.Unstructured) (ObjectDiff, error) {
	ri, _, err := s.resource(obj)
	if err != nil {
		return ObjectDiff{}, err
	}
	d := ObjectDiff{Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName(), Change: ChangeDelete}
	live, err := ri.Get(ctx, obj.GetName(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return d, nil
	}
	if err != nil {
		return ObjectDiff{}, fmt.Errorf("get %s: %w", d.ID(), err)
	}
	d.Diff, err = diffYAML(d.ID(), live, nil)
	return d, err
}

// diffYAML diffs the cleaned YAML of live and merged (either may be nil: absent).
func diffYAML(id string, live, merged *unstructured.Unstructured) (string, error) {
	a, err := cleanYAML(live)
	if err != nil {
		return "", fmt.Errorf("encode live %s: %w", id, err)
	}
	b, err := cleanYAML(merged)
	if err != nil {
		return "", fmt.Errorf("encode merged %s: %w", id, err)
	}
	return unifiedDiff("live/"+id, "merged/"+id, a, b), nil
}

// cleanYAML drops the fields the server owns (status, managed fields, versions, identity)
// and encodes the rest as YAML; nil encodes as "".
func cleanYAML(obj *unstructured.Unstructured) (string, error) {
	if obj == nil {
		return "", nil
	}
	c := obj.DeepCopy()
	unstructured.RemoveNestedField(c.Object, "status")
	for _, f := range []string{"managedFields", "resourceVersion", "generation", "uid", "creationTimestamp"} {
		unstructured.RemoveNestedField(c.Object, "metadata", f)
	}
	out, err := yaml.Marshal(c.Object)
	return string(out), err
}
