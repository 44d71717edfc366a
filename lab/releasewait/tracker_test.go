package releasewait

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var testOpts = Options{MinReleases: 1, Settle: 2 * time.Second, FailAfter: time.Minute}

func obs(name string, created time.Time, state State, reason, msg string) Observation {
	o := Observation{Namespace: "ns", Name: name, Created: metav1.NewTime(created), Generation: 1,
		State: state, Reason: reason, Message: msg}
	if state == Ready {
		o.ReadyAt = metav1.NewTime(created.Add(time.Minute))
	}
	return o
}

func TestTrackerNotSynced(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.observe(obs("a", t0.Add(-time.Hour), Ready, "InstallSucceeded", ""), t0)
	v := tr.evaluate(t0.Add(time.Hour))
	assert.False(t, v.done)
	assert.Equal(t, "listing HelmReleases", v.status)
}

func TestTrackerEmptyWaitsForMinimum(t *testing.T) {
	tr := newTracker(Options{MinReleases: 3, Settle: time.Second, FailAfter: time.Minute}, t0)
	tr.markSynced(t0)
	v := tr.evaluate(t0.Add(time.Hour))
	assert.False(t, v.done)
	assert.Equal(t, "HelmReleases ready 0/0 — waiting for at least 3", v.status)
	assert.True(t, v.recheck.IsZero(), "only an event can end this wait")
}

func TestTrackerInstalledPlatformIsDoneAtOnce(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.observe(obs("a", t0.Add(-time.Hour), Ready, "InstallSucceeded", ""), t0)
	tr.observe(obs("b", t0.Add(-time.Hour), Ready, "InstallSucceeded", ""), t0)
	tr.markSynced(t0)
	v := tr.evaluate(t0)
	require.NoError(t, v.err)
	assert.True(t, v.done)
	assert.Equal(t, "HelmReleases ready 2/2", v.status)
}

func TestTrackerSettlesAfterGrowth(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced(t0)
	tr.observe(obs("a", t0, Progressing, "NotReconciled", ""), t0.Add(10*time.Second))
	tr.observe(obs("a", t0, Ready, "InstallSucceeded", ""), t0.Add(20*time.Second))
	v := tr.evaluate(t0.Add(20 * time.Second))
	assert.True(t, v.done, "the set last grew 10s ago: no settling left")

	tr.observe(obs("b", t0, Ready, "InstallSucceeded", ""), t0.Add(21*time.Second))
	v = tr.evaluate(t0.Add(21 * time.Second))
	assert.False(t, v.done, "b was just discovered")
	assert.Equal(t, "HelmReleases ready 2/2 — settling, no new HelmRelease for 2s", v.status)
	assert.Equal(t, t0.Add(23*time.Second), v.recheck)
	assert.True(t, tr.evaluate(t0.Add(23*time.Second)).done)
}

func TestTrackerDeletionNeedsNoSettling(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.observe(obs("a", t0.Add(-time.Hour), Ready, "InstallSucceeded", ""), t0)
	tr.observe(obs("b", t0.Add(-time.Hour), Progressing, "Progressing", ""), t0)
	tr.markSynced(t0)
	assert.False(t, tr.evaluate(t0).done)
	tr.remove("ns/b")
	assert.True(t, tr.evaluate(t0).done)
}

func TestTrackerProgressNamesTheBlocker(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced(t0)
	now := t0.Add(time.Second)
	tr.observe(obs("ready", t0.Add(-3*time.Minute), Ready, "InstallSucceeded", ""), now)
	tr.observe(obs("dep", t0.Add(-2*time.Minute), WaitingOnDependency, "DependencyNotReady", "dependency 'ns/prog' is not ready"), now)
	tr.observe(obs("prog", t0.Add(-1*time.Minute), Progressing, "Progressing", "installing"), now)
	tr.observe(obs("prog-old", t0.Add(-90*time.Second), Progressing, "Progressing", "installing"), now)
	v := tr.evaluate(now)
	assert.Equal(t, "HelmReleases ready 1/4 — waiting on ns/prog-old: Progressing: installing", v.status,
		"oldest progressing before a release that only waits on a dependency")

	tr.observe(obs("fail", t0, Failing, "InstallFailed", "chart exploded"), now)
	v = tr.evaluate(now)
	assert.Equal(t, "HelmReleases ready 1/5 — waiting on ns/fail: InstallFailed: chart exploded", v.status)
	assert.Equal(t, now.Add(time.Minute), v.recheck, "re-evaluated when FailAfter runs out")

	tr.remove("ns/fail")
	tr.remove("ns/prog")
	tr.remove("ns/prog-old")
	v = tr.evaluate(now)
	assert.Equal(t, "HelmReleases ready 1/2 — waiting on ns/dep: DependencyNotReady: dependency 'ns/prog' is not ready", v.status)
}

func TestTrackerFailsAfterFailAfter(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced(t0)
	tr.observe(obs("a", t0, Failing, "InstallFailed", "boom"), t0)
	// helm-controller's retries flip Ready through Unknown/Progressing: the streak goes on.
	tr.observe(obs("a", t0, Progressing, "Progressing", "retrying"), t0.Add(20*time.Second))
	tr.observe(obs("a", t0, Failing, "InstallFailed", "boom again"), t0.Add(40*time.Second))
	v := tr.evaluate(t0.Add(59 * time.Second))
	require.NoError(t, v.err)
	assert.Equal(t, t0.Add(time.Minute), v.recheck)

	v = tr.evaluate(t0.Add(time.Minute))
	require.EqualError(t, v.err, "HelmRelease ns/a failing for 1m0s: InstallFailed: boom again")
	assert.False(t, v.done)
}

func TestTrackerFailingStreakEnds(t *testing.T) {
	for _, tc := range []struct {
		name string
		next Observation
	}{
		{"ready", obs("a", t0, Ready, "InstallSucceeded", "")},
		{"dependency", obs("a", t0, WaitingOnDependency, "DependencyNotReady", "")},
		{"new generation", func() Observation {
			o := obs("a", t0, Progressing, "Progressing", "")
			o.Generation = 2
			return o
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(testOpts, t0)
			tr.markSynced(t0)
			tr.observe(obs("a", t0, Failing, "InstallFailed", "boom"), t0)
			tr.observe(tc.next, t0.Add(50*time.Second))
			failing := obs("a", t0, Failing, "InstallFailed", "boom")
			failing.Generation = tc.next.Generation
			tr.observe(failing, t0.Add(55*time.Second))
			v := tr.evaluate(t0.Add(90 * time.Second))
			require.NoError(t, v.err, "the streak restarted at 55s")
			assert.Equal(t, t0.Add(115*time.Second), v.recheck)
		})
	}
}

func TestTrackerDependencyNeverFails(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced(t0)
	tr.observe(obs("a", t0, WaitingOnDependency, "DependencyNotReady", "dependency 'ns/b' is not ready"), t0)
	v := tr.evaluate(t0.Add(24 * time.Hour))
	require.NoError(t, v.err)
	assert.False(t, v.done)
	assert.True(t, v.recheck.IsZero())
}

func TestTrackerStalledFailsAtOnce(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced(t0)
	tr.observe(obs("a", t0, Stalled, "RetriesExceeded", "install retries exhausted"), t0)
	v := tr.evaluate(t0)
	require.EqualError(t, v.err, "HelmRelease ns/a stalled: RetriesExceeded: install retries exhausted")
}

func TestTrackerStragglers(t *testing.T) {
	tr := newTracker(testOpts, t0)
	assert.Equal(t, "HelmReleases never listed", tr.stragglers())
	tr.markSynced(t0)
	tr.observe(obs("ready", t0, Ready, "InstallSucceeded", ""), t0)
	for i := range 7 {
		tr.observe(obs(fmt.Sprintf("r%d", i), t0.Add(time.Duration(i)*time.Second), Progressing, "Progressing", "installing"), t0)
	}
	assert.Equal(t, "7 of 8 not Ready: ns/r0: Progressing: installing; ns/r1: Progressing: installing; "+
		"ns/r2: Progressing: installing; ns/r3: Progressing: installing; ns/r4: Progressing: installing; and 2 more",
		tr.stragglers())
}

func TestTrackerResult(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced(t0)
	tr.observe(obs("late", t0.Add(time.Minute), Ready, "InstallSucceeded", ""), t0)
	tr.observe(obs("early", t0, Ready, "InstallSucceeded", ""), t0)
	noTransition := obs("seen", t0, Ready, "InstallSucceeded", "")
	noTransition.ReadyAt = metav1.Time{}
	tr.observe(noTransition, t0.Add(5*time.Minute))
	tr.observe(obs("pending", t0, Progressing, "Progressing", ""), t0)

	r := tr.result(t0.Add(10 * time.Minute))
	assert.Equal(t, 10*time.Minute, r.Total)
	require.Len(t, r.Releases, 3)
	assert.Equal(t, []string{"early", "late", "seen"}, []string{r.Releases[0].Name, r.Releases[1].Name, r.Releases[2].Name})
	assert.Equal(t, time.Minute, r.Releases[0].Took)
	assert.Equal(t, t0.Add(5*time.Minute), r.Releases[2].ReadyAt, "observation time stands in for a missing transition time")
}
