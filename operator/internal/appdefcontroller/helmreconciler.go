package appdefcontroller

import (
	"context"
	"fmt"
	"reflect"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Labels the aggregated API puts on the HelmRelease of every application.
const (
	LabelApplicationKind  = "apps.cozystack.io/application.kind"
	LabelApplicationGroup = "apps.cozystack.io/application.group"
	ApplicationGroup      = "apps.cozystack.io"
)

// HelmReconciler keeps the HelmReleases of every application of a kind in line with its
// ApplicationDefinition: the chart reference, values from cozystack-values only, and the
// definition's release labels. Only what differs is written. Beyond upstream, a change to such
// a HelmRelease re-runs its definition, so a hand edit is reverted without waiting for the
// definition to change.
type HelmReconciler struct {
	Client client.Client
}

// SetupWithManager registers the controller.
func (r *HelmReconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("applicationdefinition-helm-reconciler").
		For(&v1alpha1.ApplicationDefinition{}).
		Watches(&helmv2.HelmRelease{}, handler.EnqueueRequestsFromMapFunc(r.definitionOf)).
		Complete(r)
}

// definitionOf maps an application's HelmRelease to its definition, found by kind.
func (r *HelmReconciler) definitionOf(ctx context.Context, obj client.Object) []reconcile.Request {
	kind := obj.GetLabels()[LabelApplicationKind]
	if kind == "" || obj.GetLabels()[LabelApplicationGroup] != ApplicationGroup {
		return nil
	}
	var defs v1alpha1.ApplicationDefinitionList
	if err := r.Client.List(ctx, &defs); err != nil {
		return nil
	}
	for _, d := range defs.Items {
		if d.Spec.Application.Kind == kind {
			return []reconcile.Request{{NamespacedName: client.ObjectKeyFromObject(&d)}}
		}
	}
	return nil
}

// Reconcile brings the HelmReleases of one definition's kind in line with it.
func (r *HelmReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	def := &v1alpha1.ApplicationDefinition{}
	if err := r.Client.Get(ctx, req.NamespacedName, def); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	kind, ref := def.Spec.Application.Kind, def.Spec.Release.ChartRef
	if kind == "" || ref == nil || ref.Kind == "" || ref.Name == "" {
		return ctrl.Result{}, nil // nothing to enforce: an incomplete definition
	}
	var list helmv2.HelmReleaseList
	if err := r.Client.List(ctx, &list, client.MatchingLabels{LabelApplicationKind: kind, LabelApplicationGroup: ApplicationGroup}); err != nil {
		return ctrl.Result{}, fmt.Errorf("list HelmReleases of kind %s: %w", kind, err)
	}
	for i := range list.Items {
		hr := &list.Items[i]
		if !align(hr, def) {
			continue
		}
		if err := r.Client.Update(ctx, hr); err != nil {
			return ctrl.Result{}, fmt.Errorf("update HelmRelease %s/%s: %w", hr.Namespace, hr.Name, err)
		}
	}
	return ctrl.Result{}, nil
}

// align changes hr to follow def and reports whether anything changed.
func align(hr *helmv2.HelmRelease, def *v1alpha1.ApplicationDefinition) bool {
	changed := false
	ref := def.Spec.Release.ChartRef
	if cur := hr.Spec.ChartRef; cur == nil || cur.Kind != ref.Kind || cur.Name != ref.Name || cur.Namespace != ref.Namespace {
		hr.Spec.ChartRef = ref.DeepCopy()
		hr.Spec.Chart = nil
		changed = true
	}
	want := []helmv2.ValuesReference{{Kind: "Secret", Name: v1alpha1.ValuesSecretName}}
	if !reflect.DeepEqual(hr.Spec.ValuesFrom, want) {
		hr.Spec.ValuesFrom = want
		changed = true
	}
	for k, v := range def.Spec.Release.Labels {
		if hr.Labels[k] != v {
			if hr.Labels == nil {
				hr.Labels = map[string]string{}
			}
			hr.Labels[k] = v
			changed = true
		}
	}
	return changed
}
