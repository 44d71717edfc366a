package releases

import (
	"fmt"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// setReleasesStatus reports how many of the Package's HelmReleases are Ready, and the first
// that is not, with helm-controller's own reason and message.
func (r *Reconciler) setReleasesStatus(pkg *v1alpha1.Package, wanted []*helmv2.HelmRelease, existing map[string]*helmv2.HelmRelease) {
	ready := 0
	var first *metav1.Condition
	for _, w := range wanted {
		key := w.Namespace + "/" + w.Name
		c := releaseCondition(key, existing[key])
		if c == nil {
			ready++
			continue
		}
		if first == nil {
			first = c
		}
	}
	pkg.Status.Releases = fmt.Sprintf("%d/%d ready", ready, len(wanted))
	if first == nil {
		first = &metav1.Condition{Status: metav1.ConditionTrue, Reason: v1alpha1.ReasonAllReleasesReady,
			Message: fmt.Sprintf("%d/%d HelmReleases ready", ready, len(wanted))}
	}
	first.Type, first.ObservedGeneration = v1alpha1.ConditionReleasesReady, pkg.Generation
	apimeta.SetStatusCondition(&pkg.Status.Conditions, *first)
}

// releaseCondition is nil for a Ready release, else the ReleasesReady condition it causes.
func releaseCondition(key string, hr *helmv2.HelmRelease) *metav1.Condition {
	if hr == nil {
		return &metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonReleasesProgressing,
			Message: "waiting for HelmRelease " + key + " to be created"}
	}
	if stalled := apimeta.FindStatusCondition(hr.Status.Conditions, "Stalled"); stalled != nil && stalled.Status == metav1.ConditionTrue {
		return &metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonReleaseStalled,
			Message: fmt.Sprintf("HelmRelease %s stalled (%s): %s", key, stalled.Reason, stalled.Message)}
	}
	c := apimeta.FindStatusCondition(hr.Status.Conditions, "Ready")
	switch {
	case c == nil:
		return &metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonReleasesProgressing,
			Message: "waiting for helm-controller to reconcile HelmRelease " + key}
	case c.Status == metav1.ConditionTrue && (c.ObservedGeneration == hr.Generation || hr.Status.ObservedGeneration == hr.Generation):
		return nil
	case c.Status == metav1.ConditionTrue:
		return &metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonReleasesProgressing,
			Message: "waiting for helm-controller to apply the new spec of HelmRelease " + key}
	}
	return &metav1.Condition{Status: metav1.ConditionFalse, Reason: v1alpha1.ReasonReleaseNotReady,
		Message: fmt.Sprintf("HelmRelease %s: %s: %s", key, c.Reason, c.Message)}
}
