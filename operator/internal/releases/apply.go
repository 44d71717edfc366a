package releases

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/install"
)

const (
	// FieldOwner writes HelmReleases.
	FieldOwner = "cozystack-package-controller"
	// annotationDesiredHash records a digest of what the operator last applied, so an
	// unchanged HelmRelease is not written again.
	annotationDesiredHash = "operator.cozystack.io/desired-hash"
)

// gate computes status.dependencies and stops the reconcile while a dependency is not Ready,
// naming each one and why.
func (r *Reconciler) gate(ctx context.Context, pkg *v1alpha1.Package, deps []string) error {
	status := map[string]v1alpha1.DependencyStatus{}
	var waiting []string
	for _, name := range deps {
		dep := &v1alpha1.Package{}
		err := r.Client.Get(ctx, types.NamespacedName{Name: name}, dep)
		switch {
		case client.IgnoreNotFound(err) != nil:
			return fmt.Errorf("get dependency Package %s: %w", name, err)
		case err != nil:
			status[name] = v1alpha1.DependencyStatus{Ready: false}
			waiting = append(waiting, name+" (no Package "+name+": not installed, or disabled in the bundle)")
			continue
		}
		ready := apimeta.FindStatusCondition(dep.Status.Conditions, v1alpha1.ConditionReady)
		ok := ready != nil && ready.Status == metav1.ConditionTrue
		status[name] = v1alpha1.DependencyStatus{Ready: ok}
		switch {
		case ok:
		case ready == nil:
			waiting = append(waiting, name+" (not reconciled yet)")
		default:
			waiting = append(waiting, fmt.Sprintf("%s (%s: %s)", name, ready.Reason, ready.Message))
		}
	}
	if len(status) == 0 {
		status = nil
	}
	pkg.Status.Dependencies = status
	if len(waiting) > 0 {
		return fail(v1alpha1.ReasonDependenciesNotReady, "One or more dependencies are not ready: %s", strings.Join(waiting, "; "))
	}
	return nil
}

// desiredReleases renders the HelmRelease of every enabled installable component.
func (r *Reconciler) desiredReleases(ctx context.Context, pkg *v1alpha1.Package, ps *v1alpha1.PackageSource, v *v1alpha1.Variant, deps []string) ([]*helmv2.HelmRelease, error) {
	var packageDeps []helmv2.DependencyReference
	for _, name := range deps {
		dep, depSource := &v1alpha1.Package{}, &v1alpha1.PackageSource{}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, dep); err != nil {
			return nil, r.dependsOnFailed(err, "dependency %s: Package not found", name)
		}
		if err := r.Client.Get(ctx, types.NamespacedName{Name: name}, depSource); err != nil {
			return nil, r.dependsOnFailed(err, "dependency %s: PackageSource not found", name)
		}
		refs, err := packageDependsOn(dep, depSource)
		if err != nil {
			return nil, fail(v1alpha1.ReasonDependsOnFailed, "%v", err)
		}
		packageDeps = append(packageDeps, refs...)
	}
	var out []*helmv2.HelmRelease
	for i := range v.Components {
		c := &v.Components[i]
		if c.Install == nil || !pkg.ComponentEnabled(c.Name) {
			continue
		}
		local, err := componentDependsOn(v, c)
		if err != nil {
			return nil, fail(v1alpha1.ReasonDependsOnFailed, "%v", err)
		}
		d := desired{component: c, dependsOn: append(local, packageDeps...)}
		out = append(out, buildHelmRelease(pkg, ps, v.Name, d, c.Install.Privileged, r.Settings))
	}
	return out, nil
}

// dependsOnFailed turns a lookup error into DependsOnFailed (not found) or a retry.
func (r *Reconciler) dependsOnFailed(err error, format string, args ...any) error {
	if client.IgnoreNotFound(err) != nil {
		return err
	}
	return fail(v1alpha1.ReasonDependsOnFailed, format, args...)
}

// applyRelease server-side applies hr unless the cached object already carries its digest.
func (r *Reconciler) applyRelease(ctx context.Context, hr *helmv2.HelmRelease) error {
	digest, err := desiredHash(hr)
	if err != nil {
		return err
	}
	current := &helmv2.HelmRelease{}
	err = r.Client.Get(ctx, client.ObjectKeyFromObject(hr), current)
	if err == nil && current.Annotations[annotationDesiredHash] == digest {
		return nil
	}
	if client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("get HelmRelease %s/%s: %w", hr.Namespace, hr.Name, err)
	}
	if hr.Annotations == nil {
		hr.Annotations = map[string]string{}
	}
	hr.Annotations[annotationDesiredHash] = digest
	u, err := install.Unstructured(hr)
	if err != nil {
		return err
	}
	return r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership)
}

func desiredHash(hr *helmv2.HelmRelease) (string, error) {
	raw, err := json.Marshal(struct {
		Labels, Annotations map[string]string
		Owners              []metav1.OwnerReference
		Spec                helmv2.HelmReleaseSpec
	}{hr.Labels, hr.Annotations, hr.OwnerReferences, hr.Spec})
	if err != nil {
		return "", fmt.Errorf("hash HelmRelease %s: %w", hr.Name, err)
	}
	sum := sha256.Sum256(raw)
	return hex.EncodeToString(sum[:16]), nil
}

// cleanupOrphans deletes this Package's HelmReleases that are no longer wanted (a disabled or
// removed component, a variant change) and returns the remaining ones by namespace/name.
func (r *Reconciler) cleanupOrphans(ctx context.Context, pkg *v1alpha1.Package, wanted []*helmv2.HelmRelease) (map[string]*helmv2.HelmRelease, error) {
	keep := map[string]bool{}
	for _, hr := range wanted {
		keep[hr.Namespace+"/"+hr.Name] = true
	}
	var list helmv2.HelmReleaseList
	if err := r.Client.List(ctx, &list, client.MatchingLabels{v1alpha1.LabelPackage: pkg.Name}); err != nil {
		return nil, fmt.Errorf("list HelmReleases of Package %s: %w", pkg.Name, err)
	}
	existing := map[string]*helmv2.HelmRelease{}
	var errs []error
	for i := range list.Items {
		hr := &list.Items[i]
		key := hr.Namespace + "/" + hr.Name
		if keep[key] {
			existing[key] = hr
			continue
		}
		if err := r.Client.Delete(ctx, hr); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("delete orphaned HelmRelease %s: %w", key, err))
		}
	}
	return existing, errors.Join(errs...)
}
