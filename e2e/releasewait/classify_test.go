package releasewait

import (
	"strings"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

// hr builds a HelmRelease at generation 2 with the given conditions.
func hr(ns, name string, created time.Time, conds ...metav1.Condition) *helmv2.HelmRelease {
	h := &helmv2.HelmRelease{}
	h.Namespace, h.Name, h.Generation = ns, name, 2
	h.CreationTimestamp = metav1.NewTime(created)
	h.Status.Conditions = conds
	return h
}

func cond(typ string, status metav1.ConditionStatus, reason, msg string, gen int64) metav1.Condition {
	return metav1.Condition{Type: typ, Status: status, Reason: reason, Message: msg, ObservedGeneration: gen,
		LastTransitionTime: metav1.NewTime(t0.Add(time.Minute))}
}

func TestClassify(t *testing.T) {
	suspended := hr("ns", "a", t0)
	suspended.Spec.Suspend = true
	suspendedReady := hr("ns", "a", t0, cond("Ready", metav1.ConditionTrue, "UpgradeSucceeded", "ok", 1))
	suspendedReady.Spec.Suspend = true
	suspendedFailed := hr("ns", "a", t0, cond("Ready", metav1.ConditionFalse, "UpgradeFailed", "x", 2))
	suspendedFailed.Spec.Suspend = true
	statusGen := hr("ns", "a", t0, cond("Ready", metav1.ConditionTrue, "InstallSucceeded", "ok", 0))
	statusGen.Status.ObservedGeneration = 2

	tests := []struct {
		name   string
		hr     *helmv2.HelmRelease
		state  State
		reason string
	}{
		{"no conditions", hr("ns", "a", t0), Progressing, "NotReconciled"},
		{"ready", hr("ns", "a", t0, cond("Ready", metav1.ConditionTrue, "InstallSucceeded", "ok", 2)), Ready, "InstallSucceeded"},
		{"ready via status.observedGeneration", statusGen, Ready, "InstallSucceeded"},
		{"ready for an older generation", hr("ns", "a", t0, cond("Ready", metav1.ConditionTrue, "InstallSucceeded", "ok", 1)), Progressing, "Progressing"},
		{"failed for an older generation", hr("ns", "a", t0, cond("Ready", metav1.ConditionFalse, "InstallFailed", "x", 1)), Progressing, "Progressing"},
		{"unknown", hr("ns", "a", t0, cond("Ready", metav1.ConditionUnknown, "Progressing", "installing", 2)), Progressing, "Progressing"},
		{"false progressing", hr("ns", "a", t0, cond("Ready", metav1.ConditionFalse, "Progressing", "installing", 2)), Progressing, "Progressing"},
		{"dependency", hr("ns", "a", t0, cond("Ready", metav1.ConditionFalse, "DependencyNotReady", "dependency 'ns/b' is not ready", 2)), WaitingOnDependency, "DependencyNotReady"},
		{"install failed", hr("ns", "a", t0, cond("Ready", metav1.ConditionFalse, "InstallFailed", "boom", 2)), Failing, "InstallFailed"},
		{"upgrade failed", hr("ns", "a", t0, cond("Ready", metav1.ConditionFalse, "UpgradeFailed", "boom", 2)), Failing, "UpgradeFailed"},
		{"rolled back", hr("ns", "a", t0, cond("Ready", metav1.ConditionFalse, "RollbackSucceeded", "rolled back", 2)), Failing, "RollbackSucceeded"},
		{"stalled", hr("ns", "a", t0,
			cond("Ready", metav1.ConditionFalse, "InstallFailed", "boom", 2),
			cond("Stalled", metav1.ConditionTrue, "RetriesExceeded", "install retries exhausted", 2)), Stalled, "RetriesExceeded"},
		{"stalled for an older generation", hr("ns", "a", t0,
			cond("Ready", metav1.ConditionUnknown, "Progressing", "", 2),
			cond("Stalled", metav1.ConditionTrue, "RetriesExceeded", "", 1)), Progressing, "Progressing"},
		{"suspended", suspended, Suspended, "Suspended"},
		{"suspended after Ready, generation bumped by the suspension", suspendedReady, Ready, "UpgradeSucceeded"},
		{"suspended after a failure", suspendedFailed, Suspended, "Suspended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Classify(tt.hr)
			assert.Equal(t, tt.state, o.State, "state %s", o.State)
			assert.Equal(t, tt.reason, o.Reason)
			assert.Equal(t, "ns/a", o.Key())
			assert.Equal(t, "HelmRelease ns/a", o.Ref())
		})
	}
}

func TestClassifyReadyAt(t *testing.T) {
	o := Classify(hr("ns", "a", t0, cond("Ready", metav1.ConditionTrue, "UpgradeSucceeded", "ok", 2)))
	assert.Equal(t, t0.Add(time.Minute), o.ReadyAt.Time)
}

func TestDetailIsOneShortLine(t *testing.T) {
	long := "line one\n  line two " + strings.Repeat("x", 500)
	o := Observation{Reason: "InstallFailed", Message: long}
	d := o.Detail()
	assert.NotContains(t, d, "\n")
	assert.Contains(t, d, "InstallFailed: line one line two x")
	assert.LessOrEqual(t, len([]rune(d)), len("InstallFailed: ")+maxMessage+1)
	assert.Equal(t, "NotReconciled", Observation{Reason: "NotReconciled"}.Detail())
}

func TestClassifyDependsOn(t *testing.T) {
	h := hr("ns", "a", t0)
	h.Spec.DependsOn = []helmv2.DependencyReference{{Name: "b"}, {Name: "c", Namespace: "other"}}
	assert.Equal(t, []string{"ns/b", "other/c"}, Classify(h).DependsOn, "spec order, namespace defaulting to the release's")
	assert.Nil(t, Classify(hr("ns", "a", t0)).DependsOn)
}
