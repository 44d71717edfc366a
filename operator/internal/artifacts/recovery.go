package artifacts

import (
	"strconv"
	"time"

	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// The source-watcher stall workaround (fluxcd/pkg#934): a generator whose artifacts exist but
// whose Ready write was lost is forced to reconcile again, at most maxAttempts times with
// doubling backoff (about 11.5 minutes in all), then reported as stalled.
const (
	recoveryGrace = 30 * time.Second
	backoffBase   = 30 * time.Second
	backoffCap    = 4 * time.Minute
	maxAttempts   = 5

	annotationRequestedAt = "reconcile.fluxcd.io/requestedAt"
)

// backoff is the wait after attempt n (1-based): 30 s doubling, capped at 4 min.
func backoff(n int) time.Duration {
	if n < 1 {
		n = 1
	}
	d := backoffBase
	for i := 1; i < n && d < backoffCap; i++ {
		d *= 2
	}
	return min(d, backoffCap)
}

// tracking is the recovery bookkeeping kept in the generator's annotations.
type tracking struct {
	attempts int
	last     time.Time
}

// readTracking parses the bookkeeping; malformed or negative values read as zero.
func readTracking(ag *sw.ArtifactGenerator) tracking {
	var tr tracking
	if n, err := strconv.Atoi(ag.Annotations[v1alpha1.AnnotationRecoveryAttempts]); err == nil && n > 0 {
		tr.attempts = n
	}
	if t, err := time.Parse(time.RFC3339Nano, ag.Annotations[v1alpha1.AnnotationLastRecoveryAt]); err == nil {
		tr.last = t
	}
	return tr
}

func hasTracking(ag *sw.ArtifactGenerator) bool {
	_, a := ag.Annotations[v1alpha1.AnnotationRecoveryAttempts]
	_, b := ag.Annotations[v1alpha1.AnnotationLastRecoveryAt]
	return a || b
}

// stuck reports a generator that produced its artifacts but whose Ready is missing (past the
// grace period since creation) or Unknown on the current generation past the grace period.
// Ready True or False is never stuck.
func stuck(ag *sw.ArtifactGenerator, now time.Time) bool {
	if len(ag.Status.Inventory) == 0 || ag.Status.ObservedSourcesDigest == "" {
		return false
	}
	ready := apimeta.FindStatusCondition(ag.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil {
		return now.Sub(ag.CreationTimestamp.Time) > recoveryGrace
	}
	return ready.Status == metav1.ConditionUnknown && ready.ObservedGeneration == ag.Generation &&
		now.Sub(ready.LastTransitionTime.Time) > recoveryGrace
}

// inRecovery reports whether the generator belongs to the recovery state machine: our own
// marker is on it, a recovery is under way and the generator is still Unknown, or it is stuck.
func inRecovery(ag *sw.ArtifactGenerator, tr tracking, now time.Time) bool {
	ready := apimeta.FindStatusCondition(ag.Status.Conditions, v1alpha1.ConditionReady)
	if ready != nil && ready.Reason == v1alpha1.ReasonSourceWatcherRecoveryForced {
		return true
	}
	if tr.attempts > 0 && ready != nil && ready.Status == metav1.ConditionUnknown && ready.ObservedGeneration == ag.Generation {
		return true
	}
	return stuck(ag, now)
}

// action is what the state machine does next.
type action int

const (
	actForce action = iota
	actWait
	actGiveUp
)

// decide picks the next action and, for a wait, how long.
func decide(tr tracking, now time.Time) (action, time.Duration) {
	elapsed := now.Sub(tr.last)
	switch {
	case tr.attempts >= maxAttempts:
		if remaining := backoff(maxAttempts) - elapsed; remaining > 0 {
			return actWait, remaining
		}
		return actGiveUp, 0
	case tr.attempts == 0:
		return actForce, 0
	}
	if remaining := backoff(tr.attempts) - elapsed; remaining > 0 {
		return actWait, remaining
	}
	return actForce, 0
}
