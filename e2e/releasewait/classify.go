package releasewait

import (
	"cmp"
	"fmt"
	"strings"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// State is what a HelmRelease is doing, as far as a waiter cares.
type State int

// States, from done to worst. The order matters: the progress line names a failing release
// before a progressing one before one that only waits on a dependency (the dependency is itself
// not Ready and is the real blocker).
const (
	// Ready means Ready=True for the release's current generation.
	Ready State = iota
	// Failing means Ready=False with a failure reason (InstallFailed, UpgradeFailed, ...); it may
	// still heal through helm-controller's retries, so it fails the wait only past FailAfter.
	Failing
	// Progressing means helm-controller has not finished with the current generation: no Ready
	// condition yet, Ready=Unknown, reason Progressing, or a Ready condition for an older
	// generation.
	Progressing
	// Suspended means spec.suspend is set on a release that was never Ready; it will not
	// change until resumed. It never fails the wait, only holds it up.
	Suspended
	// WaitingOnDependency means Ready=False with reason DependencyNotReady: never a failure.
	WaitingOnDependency
	// Stalled means Stalled=True (retries exhausted, invalid spec): nothing changes without a
	// new spec, so it fails the wait at once.
	Stalled
)

// String returns the state's name.
func (s State) String() string {
	switch s {
	case Ready:
		return "Ready"
	case Failing:
		return "Failing"
	case Progressing:
		return "Progressing"
	case Suspended:
		return "Suspended"
	case WaitingOnDependency:
		return "WaitingOnDependency"
	case Stalled:
		return "Stalled"
	}
	return fmt.Sprintf("State(%d)", int(s))
}

// Kind is the kind of object an Observation is of.
type Kind string

// The kinds the waiter watches.
const (
	HelmReleaseKind Kind = "HelmRelease"
	PackageKind     Kind = "Package"
	// ExternalArtifactKind is watched for its revision only: a HelmRelease whose chart is one
	// is Ready only once it installed the artifact's current revision.
	ExternalArtifactKind Kind = "ExternalArtifact"
)

// Observation is one HelmRelease or Package reduced to what the waiter needs.
type Observation struct {
	// Kind says what was observed.
	Kind Kind
	// Namespace and Name identify the object; a Package has no namespace.
	Namespace, Name string
	// ResourceVersion is the version observed: a fresh listing that shows every release at the
	// version the watches showed proves nothing happened in between.
	ResourceVersion string
	// Created is the creation time, used to name the oldest object not Ready.
	Created metav1.Time
	// Generation is metadata.generation.
	Generation int64
	// State is the classification.
	State State
	// Reason and Message come from the Ready (or Stalled) condition; Reason is a short stand-in
	// such as "NotReconciled" when there is no condition to quote.
	Reason, Message string
	// ReadyAt is the Ready condition's last transition, set when State is Ready.
	ReadyAt metav1.Time
	// DependsOn are the keys (see Key) of the objects of the same kind this one waits on: a
	// HelmRelease's spec.dependsOn in spec order, the namespace defaulting to the release's
	// own; a Package's status.dependencies, sorted. Keep-going mode follows them to tell a
	// release that waits on a blocked one from one that will still progress.
	DependsOn []string
	// Chart is the key of the ExternalArtifact a HelmRelease's chartRef names ("" for any other
	// chart source); Revision is, for a HelmRelease, the source revision it last attempted, and
	// for an ExternalArtifact, the revision it serves now.
	Chart, Revision string
	// Suspended is a HelmRelease's spec.suspend: nothing installs a newer revision of it.
	Suspended bool
}

// Key returns "namespace/name", or the name alone for a cluster-scoped object (a Package).
func (o Observation) Key() string {
	if o.Namespace == "" {
		return o.Name
	}
	return o.Namespace + "/" + o.Name
}

// Ref returns the kind and key, "HelmRelease namespace/name" or "Package name", for errors.
func (o Observation) Ref() string { return string(o.Kind) + " " + o.Key() }

// label names the object on the progress line: a HelmRelease by its key alone (the line is
// about HelmReleases), a Package with its kind.
func (o Observation) label() string {
	if o.Kind == PackageKind {
		return o.Ref()
	}
	return o.Key()
}

// Detail returns "<reason>: <message>" on one line, shortened for a progress line.
func (o Observation) Detail() string {
	msg := strings.Join(strings.Fields(o.Message), " ")
	if r := []rune(msg); len(r) > maxMessage {
		msg = string(r[:maxMessage]) + "…"
	}
	if msg == "" {
		return o.Reason
	}
	return o.Reason + ": " + msg
}

const maxMessage = 240

// nonFailureReasons are Ready=False reasons that mean "not yet", not "broken".
var nonFailureReasons = map[string]bool{
	meta.ProgressingReason:          true,
	meta.SucceededReason:            true,
	helmv2.DependencyNotReadyReason: true,
}

// Classify reduces a HelmRelease to an Observation. Stalled=True wins over everything; then a
// Ready condition must have observed the current generation (on the condition, or in
// status.observedGeneration when the condition carries none) to count as Ready or Failing —
// a stale condition says nothing about the spec now being installed. The exception is a
// suspended release, which counts as Ready if its last Ready condition was True, whatever the
// generation: someone took it over by hand (the package dev loop) and nothing will reconcile it.
func Classify(hr *helmv2.HelmRelease) Observation {
	o := Observation{
		Kind: HelmReleaseKind, Namespace: hr.Namespace, Name: hr.Name, ResourceVersion: hr.ResourceVersion,
		Created: hr.CreationTimestamp, Generation: hr.Generation,
	}
	if cr := hr.Spec.ChartRef; cr != nil && cr.Kind == sourcev1.ExternalArtifactKind {
		o.Chart = cmp.Or(cr.Namespace, hr.Namespace) + "/" + cr.Name
		o.Revision = cmp.Or(hr.Status.LastAttemptedRevisionDigest, hr.Status.LastAttemptedRevision)
	}
	o.Suspended = hr.Spec.Suspend
	for _, d := range hr.Spec.DependsOn {
		ns := d.Namespace
		if ns == "" {
			ns = hr.Namespace
		}
		o.DependsOn = append(o.DependsOn, ns+"/"+d.Name)
	}
	conds := hr.Status.Conditions
	if c := apimeta.FindStatusCondition(conds, meta.StalledCondition); c != nil && c.Status == metav1.ConditionTrue && current(hr, c) {
		o.State, o.Reason, o.Message = Stalled, c.Reason, c.Message
		return o
	}
	ready := apimeta.FindStatusCondition(conds, meta.ReadyCondition)
	switch {
	case hr.Spec.Suspend && ready != nil && ready.Status == metav1.ConditionTrue:
		// Suspending bumps the generation and helm-controller never observes it: the Ready
		// it last wrote is all a suspended release will ever have (the dev loop's apply).
		o.State, o.Reason, o.Message, o.ReadyAt = Ready, ready.Reason, ready.Message, ready.LastTransitionTime
	case hr.Spec.Suspend:
		o.State, o.Reason, o.Message = Suspended, meta.SuspendedReason, "spec.suspend is true and it was never Ready"
	case ready == nil:
		o.State, o.Reason = Progressing, "NotReconciled"
		o.Message = "no Ready condition yet"
	case !current(hr, ready):
		o.State, o.Reason = Progressing, meta.ProgressingReason
		o.Message = fmt.Sprintf("generation %d not observed yet (last: %s: %s)", hr.Generation, ready.Reason, ready.Message)
	case ready.Status == metav1.ConditionTrue:
		o.State, o.Reason, o.Message, o.ReadyAt = Ready, ready.Reason, ready.Message, ready.LastTransitionTime
	case ready.Status == metav1.ConditionFalse && ready.Reason == helmv2.DependencyNotReadyReason:
		o.State, o.Reason, o.Message = WaitingOnDependency, ready.Reason, ready.Message
	case ready.Status == metav1.ConditionFalse && !nonFailureReasons[ready.Reason]:
		o.State, o.Reason, o.Message = Failing, ready.Reason, ready.Message
	default:
		o.State, o.Reason, o.Message = Progressing, ready.Reason, ready.Message
	}
	return o
}

// current reports whether condition c was written for the release's current generation.
func current(hr *helmv2.HelmRelease, c *metav1.Condition) bool {
	observed := c.ObservedGeneration
	if observed == 0 {
		observed = hr.Status.ObservedGeneration
	}
	return observed >= hr.Generation
}
