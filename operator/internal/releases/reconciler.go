package releases

import (
	"context"
	"errors"
	"fmt"
	"slices"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Reconciler turns Packages into HelmReleases.
type Reconciler struct {
	Client   client.Client
	Settings Settings

	dependents *dependents
}

// SetupWithManager registers the index and the controller.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	r.dependents = newDependents()
	if err := mgr.GetFieldIndexer().IndexField(ctx, &v1alpha1.PackageSource{}, privilegedNamespacesIndex, privilegedNamespaces); err != nil {
		return fmt.Errorf("index PackageSources by privileged namespace: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("cozystack-package").
		For(&v1alpha1.Package{}).
		Owns(&helmv2.HelmRelease{}).
		Watches(&v1alpha1.PackageSource{}, handler.EnqueueRequestsFromMapFunc(samePackage)).
		Watches(&v1alpha1.Package{}, handler.EnqueueRequestsFromMapFunc(r.dependentsOf)).
		Complete(r)
}

func samePackage(_ context.Context, obj client.Object) []reconcile.Request {
	return []reconcile.Request{{NamespacedName: types.NamespacedName{Name: obj.GetName()}}}
}

func (r *Reconciler) dependentsOf(_ context.Context, obj client.Object) []reconcile.Request {
	var out []reconcile.Request
	for _, p := range r.dependents.of(obj.GetName()) {
		out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: p}})
	}
	return out
}

// Reconcile brings one Package's HelmReleases, namespaces and status in line with its spec.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	pkg := &v1alpha1.Package{}
	if err := r.Client.Get(ctx, req.NamespacedName, pkg); err != nil {
		if client.IgnoreNotFound(err) == nil {
			r.dependents.set(req.Name, nil)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !pkg.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // its HelmReleases go with it through their owner references
	}
	before := pkg.Status.DeepCopy()
	patch := client.MergeFrom(pkg.DeepCopy())
	err := r.reconcile(ctx, pkg)
	var st *statusError
	if errors.As(err, &st) {
		r.setReady(pkg, metav1.ConditionFalse, st.reason, st.msg)
		err = st.retry
	}
	if !equality.Semantic.DeepEqual(before, &pkg.Status) {
		// A merge patch: only this controller writes Package status, so no conflict retries.
		if uerr := r.Client.Status().Patch(ctx, pkg, patch); uerr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("update status of Package %s: %w", pkg.Name, uerr))
		}
	}
	return ctrl.Result{}, err
}

// statusError ends a reconcile with Ready=False; retry, when set, is returned to be retried
// (an API failure), otherwise the Package waits for a change to something it watches.
type statusError struct {
	reason, msg string
	retry       error
}

func (e *statusError) Error() string { return e.reason + ": " + e.msg }

func fail(reason, format string, args ...any) error {
	return &statusError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

func (r *Reconciler) reconcile(ctx context.Context, pkg *v1alpha1.Package) error {
	ps := &v1alpha1.PackageSource{}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: pkg.Name}, ps); err != nil {
		if client.IgnoreNotFound(err) != nil {
			return fmt.Errorf("get PackageSource %s: %w", pkg.Name, err)
		}
		r.dependents.set(pkg.Name, nil)
		return fail(v1alpha1.ReasonPackageSourceNotFound, "PackageSource %s not found", pkg.Name)
	}
	variant, ok := ps.FindVariant(pkg.ActiveVariant())
	if !ok {
		r.dependents.set(pkg.Name, nil)
		return fail(v1alpha1.ReasonVariantNotFound, "Variant %s not found in PackageSource %s", pkg.ActiveVariant(), ps.Name)
	}
	deps := activeDependencies(pkg, variant)
	r.dependents.set(pkg.Name, deps)
	namespaces, err := targetNamespaces(pkg, variant)
	if err != nil {
		return fail(v1alpha1.ReasonInvalidConfiguration, "%v", err)
	}
	if err := r.ensureNamespaces(ctx, namespaces); err != nil {
		return err
	}
	if err := r.gate(ctx, pkg, deps); err != nil {
		return err
	}
	wanted, err := r.desiredReleases(ctx, pkg, ps, variant, deps)
	if err != nil {
		return err
	}
	for _, hr := range wanted {
		if err := r.applyRelease(ctx, hr); err != nil {
			return &statusError{reason: v1alpha1.ReasonHelmReleaseFailed, msg: fmt.Sprintf("Failed to create HelmRelease %s: %v", hr.Name, err), retry: err}
		}
	}
	existing, err := r.cleanupOrphans(ctx, pkg, wanted)
	if err != nil {
		return err
	}
	r.setReleasesStatus(pkg, wanted, existing)
	r.setReady(pkg, metav1.ConditionTrue, v1alpha1.ReasonReconciliationSucceeded,
		fmt.Sprintf("reconciliation succeeded, generated %d helmrelease(s)", len(wanted)))
	return nil
}

// activeDependencies are the variant's dependencies minus the ignored ones.
func activeDependencies(pkg *v1alpha1.Package, v *v1alpha1.Variant) []string {
	var out []string
	for _, d := range v.DependsOn {
		if !slices.Contains(pkg.Spec.IgnoreDependencies, d) {
			out = append(out, d)
		}
	}
	return out
}

func (r *Reconciler) setReady(pkg *v1alpha1.Package, status metav1.ConditionStatus, reason, msg string) {
	apimeta.SetStatusCondition(&pkg.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: pkg.Generation,
	})
}
