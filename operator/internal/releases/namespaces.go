package releases

import (
	"context"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/install"
)

const (
	// NamespaceFieldOwner writes the namespaces Packages install into.
	NamespaceFieldOwner = "cozystack-package-controller"
	labelEnforce        = "pod-security.kubernetes.io/enforce"
	annotationKeep      = "helm.sh/resource-policy"

	// privilegedNamespacesIndex indexes PackageSources by every namespace any of their
	// components installs into with privileged: true, in any variant.
	privilegedNamespacesIndex = "cozystack.io/privileged-namespaces"
)

// privilegedNamespaces is the index function of privilegedNamespacesIndex.
func privilegedNamespaces(obj client.Object) []string {
	ps, ok := obj.(*v1alpha1.PackageSource)
	if !ok {
		return nil
	}
	seen := map[string]bool{}
	for _, v := range ps.Spec.Variants {
		for _, c := range v.Components {
			if c.Install != nil && c.Install.Privileged && c.Install.Namespace != "" {
				seen[c.Install.Namespace] = true
			}
		}
	}
	out := make([]string, 0, len(seen))
	for ns := range seen {
		out = append(out, ns)
	}
	sort.Strings(out)
	return out
}

// targetNamespaces are the namespaces of the enabled installable components of v.
func targetNamespaces(pkg *v1alpha1.Package, v *v1alpha1.Variant) ([]string, error) {
	seen := map[string]bool{}
	var out []string
	for _, c := range v.Components {
		if c.Install == nil || !pkg.ComponentEnabled(c.Name) {
			continue
		}
		if c.Install.Namespace == "" {
			return nil, fmt.Errorf("component %s of variant %s has no install.namespace", c.Name, v.Name)
		}
		if !seen[c.Install.Namespace] {
			seen[c.Install.Namespace] = true
			out = append(out, c.Install.Namespace)
		}
	}
	return out, nil
}

// privileged reports whether any Package installs an enabled privileged component into ns.
// The answer is the same whichever Package asks, so two Packages sharing a namespace never
// flip its pod-security label back and forth.
func (r *Reconciler) privileged(ctx context.Context, ns string) (bool, error) {
	var sources v1alpha1.PackageSourceList
	if err := r.Client.List(ctx, &sources, client.MatchingFields{privilegedNamespacesIndex: ns}); err != nil {
		return false, fmt.Errorf("list PackageSources privileged in %s: %w", ns, err)
	}
	for i := range sources.Items {
		ps := &sources.Items[i]
		pkg := &v1alpha1.Package{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: ps.Name}, pkg); err != nil {
			if client.IgnoreNotFound(err) != nil {
				return false, fmt.Errorf("get Package %s: %w", ps.Name, err)
			}
			continue
		}
		v, ok := ps.FindVariant(pkg.ActiveVariant())
		if !ok {
			continue
		}
		for _, c := range v.Components {
			if c.Install != nil && c.Install.Privileged && c.Install.Namespace == ns && pkg.ComponentEnabled(c.Name) {
				return true, nil
			}
		}
	}
	return false, nil
}

// ensureNamespaces applies each target namespace with its labels, skipping those already right.
func (r *Reconciler) ensureNamespaces(ctx context.Context, names []string) error {
	for _, name := range names {
		priv, err := r.privileged(ctx, name)
		if err != nil {
			return err
		}
		want := namespace(name, priv)
		current := &corev1.Namespace{}
		err = r.Client.Get(ctx, types.NamespacedName{Name: name}, current)
		if err == nil && namespaceCurrent(current, want) {
			continue
		}
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("get Namespace %s: %w", name, err)
		}
		u, err := install.Unstructured(want)
		if err != nil {
			return err
		}
		if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(NamespaceFieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply Namespace %s: %w", name, err)
		}
	}
	return nil
}

func namespace(name string, privileged bool) *corev1.Namespace {
	ns := &corev1.Namespace{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
		ObjectMeta: metav1.ObjectMeta{
			Name: name, Labels: map[string]string{}, Annotations: map[string]string{annotationKeep: "keep"},
		},
	}
	if !strings.HasPrefix(name, "tenant-") {
		ns.Labels[v1alpha1.LabelSystem] = "true"
	}
	if privileged {
		ns.Labels[labelEnforce] = "privileged"
	}
	return ns
}

// namespaceCurrent reports whether current already carries exactly what we would apply. The
// privileged label must also be absent when not wanted (our apply would remove it).
func namespaceCurrent(current, want *corev1.Namespace) bool {
	for k, v := range want.Labels {
		if current.Labels[k] != v {
			return false
		}
	}
	for k, v := range want.Annotations {
		if current.Annotations[k] != v {
			return false
		}
	}
	_, hasPriv := current.Labels[labelEnforce]
	_, wantPriv := want.Labels[labelEnforce]
	if hasPriv && !wantPriv && ownsField(current, labelEnforce) {
		return false
	}
	return true
}

// ownsField reports whether our field manager owns label key on obj.
func ownsField(obj metav1.Object, label string) bool {
	for _, mf := range obj.GetManagedFields() {
		if mf.Manager == NamespaceFieldOwner && mf.FieldsV1 != nil && strings.Contains(string(mf.FieldsV1.Raw), `"f:`+label+`"`) {
			return true
		}
	}
	return false
}
