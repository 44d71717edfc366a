package artifacts

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/install"
)

// FieldOwner writes ArtifactGenerators.
const FieldOwner = "cozystack-packagesource-controller"

// Reconciler turns PackageSources into ArtifactGenerators.
type Reconciler struct {
	Client client.Client
	// Now returns the current time; time.Now when nil (tests pin it).
	Now func() time.Time
}

// SetupWithManager registers the controller.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("cozystack-packagesource").
		For(&v1alpha1.PackageSource{}).
		Owns(&sw.ArtifactGenerator{}).
		Complete(r)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile writes the generator of one PackageSource and mirrors its readiness.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ps := &v1alpha1.PackageSource{}
	if err := r.Client.Get(ctx, req.NamespacedName, ps); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if !ps.DeletionTimestamp.IsZero() {
		return ctrl.Result{}, nil // the generator goes with it through its owner reference
	}
	if desired, ok := Generator(ps); ok {
		if err := r.applyGenerator(ctx, desired); err != nil {
			return ctrl.Result{}, err
		}
	}
	return r.updateStatus(ctx, ps)
}

// applyGenerator writes the generator unless the cached one already matches, so an idle
// reconcile sends nothing to the API server.
func (r *Reconciler) applyGenerator(ctx context.Context, desired *sw.ArtifactGenerator) error {
	current := &sw.ArtifactGenerator{}
	err := r.Client.Get(ctx, client.ObjectKeyFromObject(desired), current)
	if err == nil && equality.Semantic.DeepEqual(current.Spec, desired.Spec) &&
		current.Labels[v1alpha1.LabelPackageSource] == desired.Labels[v1alpha1.LabelPackageSource] &&
		reflect.DeepEqual(current.OwnerReferences, desired.OwnerReferences) {
		return nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("get ArtifactGenerator %s: %w", desired.Name, err)
	}
	u, err := install.Unstructured(desired)
	if err != nil {
		return err
	}
	if err := r.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner)); err != nil {
		return fmt.Errorf("apply ArtifactGenerator %s: %w", desired.Name, err)
	}
	return nil
}

func variantNames(ps *v1alpha1.PackageSource) string {
	names := make([]string, 0, len(ps.Spec.Variants))
	for _, v := range ps.Spec.Variants {
		names = append(names, v.Name)
	}
	return strings.Join(names, ",")
}

// updateStatus sets status.variants and Ready, and writes the status only when it changed.
func (r *Reconciler) updateStatus(ctx context.Context, ps *v1alpha1.PackageSource) (ctrl.Result, error) {
	before := ps.Status.DeepCopy()
	patch := client.MergeFrom(ps.DeepCopy())
	ps.Status.Variants = variantNames(ps)
	var result ctrl.Result
	if ps.Spec.SourceRef == nil {
		r.setReady(ps, metav1.ConditionUnknown, v1alpha1.ReasonSourceRefNotSet, "spec.sourceRef is not set", nil)
	} else {
		ag := &sw.ArtifactGenerator{}
		err := r.Client.Get(ctx, client.ObjectKey{Namespace: v1alpha1.SystemNamespace, Name: ps.Name}, ag)
		switch {
		case apierrors.IsNotFound(err):
			r.setReady(ps, metav1.ConditionUnknown, v1alpha1.ReasonArtifactGeneratorNotFound,
				fmt.Sprintf("ArtifactGenerator %s/%s not found", v1alpha1.SystemNamespace, ps.Name), nil)
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("get ArtifactGenerator %s: %w", ps.Name, err)
		default:
			if result, err = r.observe(ctx, ps, ag); err != nil {
				return ctrl.Result{}, err
			}
		}
	}
	if equality.Semantic.DeepEqual(before, &ps.Status) {
		return result, nil
	}
	// A merge patch, not an Update: only this controller writes the status, and a cache a
	// moment behind must not turn into a conflict and a retry.
	if err := r.Client.Status().Patch(ctx, ps, patch); err != nil {
		return ctrl.Result{}, fmt.Errorf("update status of PackageSource %s: %w", ps.Name, err)
	}
	return result, nil
}

// observe mirrors the generator's Ready, or runs the stall recovery when it is stuck.
func (r *Reconciler) observe(ctx context.Context, ps *v1alpha1.PackageSource, ag *sw.ArtifactGenerator) (ctrl.Result, error) {
	now := r.now()
	tr := readTracking(ag)
	if inRecovery(ag, tr, now) {
		return r.recover(ctx, ps, ag, tr, now)
	}
	if hasTracking(ag) {
		patch := client.MergeFrom(ag.DeepCopy())
		delete(ag.Annotations, v1alpha1.AnnotationRecoveryAttempts)
		delete(ag.Annotations, v1alpha1.AnnotationLastRecoveryAt)
		if err := r.Client.Patch(ctx, ag, patch); err != nil {
			return ctrl.Result{}, fmt.Errorf("clear recovery tracking of ArtifactGenerator %s: %w", ag.Name, err)
		}
	}
	ready := apimeta.FindStatusCondition(ag.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil {
		r.setReady(ps, metav1.ConditionUnknown, v1alpha1.ReasonArtifactGeneratorNotReady, "ArtifactGenerator Ready condition not found", nil)
		return ctrl.Result{RequeueAfter: until(ag.CreationTimestamp.Add(recoveryGrace), now)}, nil
	}
	r.setReady(ps, ready.Status, ready.Reason, ready.Message, &ready.LastTransitionTime)
	if ready.Status == metav1.ConditionUnknown {
		return ctrl.Result{RequeueAfter: until(ready.LastTransitionTime.Add(recoveryGrace), now)}, nil
	}
	return ctrl.Result{}, nil
}

// recover runs one step of the stall recovery state machine.
func (r *Reconciler) recover(ctx context.Context, ps *v1alpha1.PackageSource, ag *sw.ArtifactGenerator, tr tracking, now time.Time) (ctrl.Result, error) {
	act, wait := decide(tr, now)
	switch act {
	case actGiveUp:
		r.setReady(ps, metav1.ConditionFalse, v1alpha1.ReasonSourceWatcherStalled, fmt.Sprintf(
			"source-watcher did not report ArtifactGenerator %s/%s Ready after %d forced reconciles (fluxcd/pkg#934): restart source-watcher",
			ag.Namespace, ag.Name, maxAttempts), nil)
		return ctrl.Result{}, nil
	case actWait:
		r.setReady(ps, metav1.ConditionUnknown, v1alpha1.ReasonAwaitingSourceWatcherRecovery,
			fmt.Sprintf("waiting for source-watcher to recover ArtifactGenerator %s (attempt %d/%d)", ag.Name, tr.attempts, maxAttempts), nil)
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	if err := r.force(ctx, ag, tr.attempts+1, now); err != nil {
		return ctrl.Result{}, err
	}
	n := tr.attempts + 1
	r.setReady(ps, metav1.ConditionUnknown, v1alpha1.ReasonAwaitingSourceWatcherRecovery,
		fmt.Sprintf("forced source-watcher to reconcile ArtifactGenerator %s again (attempt %d/%d)", ag.Name, n, maxAttempts), nil)
	return ctrl.Result{RequeueAfter: backoff(n)}, nil
}

// force marks the generator's Ready False with our reason (a real drift for source-watcher to
// correct) and asks for a reconcile through the requestedAt annotation.
func (r *Reconciler) force(ctx context.Context, ag *sw.ArtifactGenerator, attempt int, now time.Time) error {
	statusPatch := client.MergeFrom(ag.DeepCopy())
	apimeta.SetStatusCondition(&ag.Status.Conditions, metav1.Condition{
		Type: v1alpha1.ConditionReady, Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonSourceWatcherRecoveryForced,
		Message:            "forced drift: source-watcher lost its Ready write; requesting a reconcile",
		ObservedGeneration: ag.Generation,
	})
	if err := r.Client.Status().Patch(ctx, ag, statusPatch); err != nil {
		return fmt.Errorf("force recovery of ArtifactGenerator %s: patch status: %w", ag.Name, err)
	}
	metaPatch := client.MergeFrom(ag.DeepCopy())
	if ag.Annotations == nil {
		ag.Annotations = map[string]string{}
	}
	stamp := now.UTC().Format(time.RFC3339Nano)
	ag.Annotations[v1alpha1.AnnotationRecoveryAttempts] = strconv.Itoa(attempt)
	ag.Annotations[v1alpha1.AnnotationLastRecoveryAt] = stamp
	ag.Annotations[annotationRequestedAt] = stamp
	if err := r.Client.Patch(ctx, ag, metaPatch); err != nil {
		return fmt.Errorf("force recovery of ArtifactGenerator %s: patch annotations: %w", ag.Name, err)
	}
	return nil
}

// setReady sets the Ready condition; a given transition time is kept (mirrored conditions carry
// the generator's), otherwise it changes only when the status does.
func (r *Reconciler) setReady(ps *v1alpha1.PackageSource, status metav1.ConditionStatus, reason, msg string, transition *metav1.Time) {
	c := metav1.Condition{Type: v1alpha1.ConditionReady, Status: status, Reason: reason, Message: msg, ObservedGeneration: ps.Generation}
	if transition != nil {
		c.LastTransitionTime = *transition
		apimeta.RemoveStatusCondition(&ps.Status.Conditions, v1alpha1.ConditionReady)
		ps.Status.Conditions = append(ps.Status.Conditions, c)
		return
	}
	if old := apimeta.FindStatusCondition(ps.Status.Conditions, v1alpha1.ConditionReady); old == nil || old.Status != status {
		c.LastTransitionTime = metav1.NewTime(r.now())
	} else {
		c.LastTransitionTime = old.LastTransitionTime
	}
	apimeta.RemoveStatusCondition(&ps.Status.Conditions, v1alpha1.ConditionReady)
	ps.Status.Conditions = append(ps.Status.Conditions, c)
}

// until is the time from now to t, at least one second.
func until(t, now time.Time) time.Duration {
	return max(t.Sub(now), time.Second)
}
