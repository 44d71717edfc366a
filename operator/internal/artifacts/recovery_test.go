package artifacts

import (
	"testing"
	"time"

	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 23, 12, 0, 0, 0, time.UTC)

func generator(inventory, digest bool, ready *metav1.Condition, created time.Time) *sw.ArtifactGenerator {
	ag := &sw.ArtifactGenerator{ObjectMeta: metav1.ObjectMeta{Name: "g", Generation: 3, CreationTimestamp: metav1.NewTime(created)}}
	if inventory {
		ag.Status.Inventory = []sw.ExternalArtifactReference{{Name: "a", Namespace: "cozy-system", Digest: "sha256:1", Filename: "a.tgz"}}
	}
	if digest {
		ag.Status.ObservedSourcesDigest = "sha256:2"
	}
	if ready != nil {
		ag.Status.Conditions = []metav1.Condition{*ready}
	}
	return ag
}

func cond(status metav1.ConditionStatus, gen int64, at time.Time) *metav1.Condition {
	return &metav1.Condition{Type: "Ready", Status: status, Reason: "X", ObservedGeneration: gen, LastTransitionTime: metav1.NewTime(at)}
}

func TestStuck(t *testing.T) {
	now := t0
	old, fresh := now.Add(-time.Minute), now.Add(-10*time.Second)
	tests := []struct {
		name string
		ag   *sw.ArtifactGenerator
		want bool
	}{
		{"nothing observed", generator(false, false, nil, old), false},
		{"inventory without digest", generator(true, false, nil, old), false},
		{"digest without inventory", generator(false, true, nil, old), false},
		{"Ready absent within grace", generator(true, true, nil, fresh), false},
		{"Ready absent after grace", generator(true, true, nil, old), true},
		{"Unknown within grace", generator(true, true, cond(metav1.ConditionUnknown, 3, fresh), old), false},
		{"Unknown after grace", generator(true, true, cond(metav1.ConditionUnknown, 3, old), old), true},
		{"Unknown on a stale generation", generator(true, true, cond(metav1.ConditionUnknown, 2, old), old), false},
		{"True passes", generator(true, true, cond(metav1.ConditionTrue, 3, old), old), false},
		{"False passes", generator(true, true, cond(metav1.ConditionFalse, 3, old), old), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { assert.Equal(t, tt.want, stuck(tt.ag, now)) })
	}
}

func TestBackoff(t *testing.T) {
	var got []time.Duration
	for n := 1; n <= 6; n++ {
		got = append(got, backoff(n))
	}
	assert.Equal(t, []time.Duration{30 * time.Second, time.Minute, 2 * time.Minute, 4 * time.Minute, 4 * time.Minute, 4 * time.Minute}, got)
}

func TestDecide(t *testing.T) {
	tests := []struct {
		name     string
		tr       tracking
		want     action
		wantWait time.Duration
	}{
		{"first attempt forces", tracking{}, actForce, 0},
		{"within backoff after attempt 1 waits", tracking{1, t0.Add(-10 * time.Second)}, actWait, 20 * time.Second},
		{"after backoff of attempt 1 forces", tracking{1, t0.Add(-31 * time.Second)}, actForce, 0},
		{"after attempt 3 waits out 2 minutes", tracking{3, t0.Add(-30 * time.Second)}, actWait, 90 * time.Second},
		{"exhausted with final backoff pending waits", tracking{5, t0.Add(-time.Minute)}, actWait, 3 * time.Minute},
		{"exhausted gives up", tracking{5, t0.Add(-5 * time.Minute)}, actGiveUp, 0},
		{"beyond exhausted gives up", tracking{9, t0.Add(-time.Hour)}, actGiveUp, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			act, wait := decide(tt.tr, t0)
			assert.Equal(t, tt.want, act)
			assert.Equal(t, tt.wantWait, wait)
		})
	}
}

func TestReadTracking(t *testing.T) {
	ag := &sw.ArtifactGenerator{}
	for _, tt := range []struct {
		attempts, at string
		want         tracking
	}{
		{"2", t0.Format(time.RFC3339Nano), tracking{2, t0}},
		{"corrupt", "yesterday", tracking{}},
		{"-3", "", tracking{}},
	} {
		ag.Annotations = map[string]string{v1alpha1.AnnotationRecoveryAttempts: tt.attempts, v1alpha1.AnnotationLastRecoveryAt: tt.at}
		assert.Equal(t, tt.want, readTracking(ag))
	}
}

func TestInRecovery(t *testing.T) {
	old := t0.Add(-time.Hour)
	own := cond(metav1.ConditionFalse, 1, t0)
	own.Reason = v1alpha1.ReasonSourceWatcherRecoveryForced
	assert.True(t, inRecovery(generator(false, false, own, old), tracking{}, t0), "our own marker, any generation")
	assert.True(t, inRecovery(generator(false, false, cond(metav1.ConditionUnknown, 3, t0), old), tracking{attempts: 1}, t0), "progressing while in recovery")
	assert.False(t, inRecovery(generator(false, false, cond(metav1.ConditionUnknown, 2, t0), old), tracking{attempts: 1}, t0), "stale generation")
	assert.False(t, inRecovery(generator(true, true, cond(metav1.ConditionTrue, 3, old), old), tracking{attempts: 4}, t0), "Ready True ends recovery")
}
