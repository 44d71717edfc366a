package releasewait

import (
	"fmt"
	"maps"
	"slices"

	"github.com/fluxcd/pkg/apis/meta"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// ClassifyPackage reduces a Package to an Observation. The operator writes Ready=True only after
// it has written every HelmRelease of the Package, and stamps the condition with the generation
// it reconciled: a Package counts as Ready only when that generation is the current one, since
// a condition for an older spec says nothing about the releases the current spec declares. A
// missing condition means the operator has not reconciled it yet; DependenciesNotReady is a
// wait, never a failure; any other Ready=False is a failure that may still heal (the
// PackageSource appearing, an API error retried), so it fails the wait only past FailAfter.
// Its dependencies are the Packages the operator lists in status.dependencies.
func ClassifyPackage(p *v1alpha1.Package) Observation {
	o := Observation{
		Kind: PackageKind, Name: p.Name, ResourceVersion: p.ResourceVersion,
		Created: p.CreationTimestamp, Generation: p.Generation,
		DependsOn: slices.Sorted(maps.Keys(p.Status.Dependencies)),
	}
	ready := apimeta.FindStatusCondition(p.Status.Conditions, v1alpha1.ConditionReady)
	switch {
	case ready == nil:
		o.State, o.Reason, o.Message = Progressing, "NotReconciled", "no Ready condition yet"
	case ready.ObservedGeneration < p.Generation:
		o.State, o.Reason = Progressing, meta.ProgressingReason
		o.Message = fmt.Sprintf("generation %d not observed yet (last: %s: %s)", p.Generation, ready.Reason, ready.Message)
	case ready.Status == metav1.ConditionTrue:
		o.State, o.Reason, o.Message, o.ReadyAt = Ready, ready.Reason, ready.Message, ready.LastTransitionTime
	case ready.Status == metav1.ConditionFalse && ready.Reason == v1alpha1.ReasonDependenciesNotReady:
		o.State, o.Reason, o.Message = WaitingOnDependency, ready.Reason, ready.Message
	case ready.Status == metav1.ConditionFalse:
		o.State, o.Reason, o.Message = Failing, ready.Reason, ready.Message
	default:
		o.State, o.Reason, o.Message = Progressing, ready.Reason, ready.Message
	}
	return o
}
