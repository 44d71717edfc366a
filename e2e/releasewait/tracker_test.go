package releasewait

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var testOpts = Options{FailAfter: time.Minute}

// obs is a HelmRelease in namespace ns.
func obs(name string, created time.Time, state State, reason, msg string) Observation {
	o := Observation{Kind: HelmReleaseKind, Namespace: "ns", Name: name, ResourceVersion: "1",
		Created: metav1.NewTime(created), Generation: 1, State: state, Reason: reason, Message: msg}
	if state == Ready {
		o.ReadyAt = metav1.NewTime(created.Add(time.Minute))
	}
	return o
}

// pkg is a Package.
func pkg(name string, created time.Time, state State, reason, msg string) Observation {
	o := obs(name, created, state, reason, msg)
	o.Kind, o.Namespace = PackageKind, ""
	return o
}

// withRV returns o at resource version rv.
func withRV(o Observation, rv string) Observation {
	o.ResourceVersion = rv
	return o
}

func TestTrackerNotSynced(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.observe(obs("a", t0.Add(-time.Hour), Ready, "InstallSucceeded", ""), t0)
	v := tr.evaluate(t0.Add(time.Hour))
	assert.False(t, v.done)
	assert.Equal(t, "listing HelmReleases and Packages", v.status)
}

func TestTrackerInstalledPlatformIsDoneAtOnce(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.observe(obs("a", t0.Add(-time.Hour), Ready, "InstallSucceeded", ""), t0)
	tr.observe(obs("b", t0.Add(-time.Hour), Ready, "InstallSucceeded", ""), t0)
	tr.observe(pkg("p", t0.Add(-time.Hour), Ready, "ReconciliationSucceeded", ""), t0)
	tr.markSynced()
	v := tr.evaluate(t0)
	require.NoError(t, v.err)
	assert.True(t, v.done)
	assert.Equal(t, "HelmReleases ready 2/2, Packages ready 1/1", v.status)
	assert.True(t, v.recheck.IsZero())
}

func TestTrackerSingleReleaseIsDoneWhenReady(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.observe(pkg("p", t0, Ready, "ReconciliationSucceeded", ""), t0)
	tr.observe(obs("a", t0, Progressing, "NotReconciled", "no Ready condition yet"), t0)
	tr.markSynced()
	v := tr.evaluate(t0)
	assert.False(t, v.done)
	assert.Equal(t, "HelmReleases ready 0/1, Packages ready 1/1 — waiting on ns/a: NotReconciled: no Ready condition yet", v.status)
	assert.True(t, v.recheck.IsZero(), "only an event can end this wait")

	now := t0.Add(time.Second)
	tr.observe(obs("a", t0, Ready, "InstallSucceeded", ""), now)
	v = tr.evaluate(now)
	assert.True(t, v.done, "no minimum count, no settle period")
	assert.Equal(t, "HelmReleases ready 1/1, Packages ready 1/1", v.status)
}

func TestTrackerNothingToWaitFor(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced()
	v := tr.evaluate(t0)
	assert.True(t, v.done)
	assert.Equal(t, "HelmReleases ready 0/0", v.status)
}

// TestTrackerPackageHoldsTheWait is the bug of issue #11: every release that exists is Ready,
// but a Package the operator has not reconciled yet (or not at its current generation) will
// still create releases, so the wait goes on.
func TestTrackerPackageHoldsTheWait(t *testing.T) {
	for _, tc := range []struct {
		name, status string
		pkg          Observation
	}{
		{"no Ready condition yet", "waiting on Package new: NotReconciled: no Ready condition yet",
			pkg("new", t0, Progressing, "NotReconciled", "no Ready condition yet")},
		{"Ready for an older generation", "waiting on Package new: Progressing: generation 2 not observed yet",
			pkg("new", t0, Progressing, "Progressing", "generation 2 not observed yet")},
		{"waiting on its dependencies", "waiting on Package new: DependenciesNotReady: cozystack.a is not ready",
			pkg("new", t0, WaitingOnDependency, "DependenciesNotReady", "cozystack.a is not ready")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr := newTracker(testOpts, t0)
			tr.observe(obs("a", t0.Add(-time.Hour), Ready, "InstallSucceeded", ""), t0)
			tr.observe(pkg("platform", t0.Add(-time.Hour), Ready, "ReconciliationSucceeded", ""), t0)
			tr.observe(tc.pkg, t0)
			tr.markSynced()
			v := tr.evaluate(t0.Add(time.Hour))
			require.NoError(t, v.err)
			assert.False(t, v.done)
			assert.Equal(t, "HelmReleases ready 1/1, Packages ready 1/2 — "+tc.status, v.status)
			assert.True(t, v.recheck.IsZero())
		})
	}
}

func TestTrackerFailingPackageFailsAfterFailAfter(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced()
	tr.observe(pkg("p", t0, Failing, "VariantNotFound", "Variant x not found in PackageSource p"), t0)
	v := tr.evaluate(t0.Add(30 * time.Second))
	require.NoError(t, v.err)
	assert.Equal(t, t0.Add(time.Minute), v.recheck)
	v = tr.evaluate(t0.Add(time.Minute))
	require.EqualError(t, v.err, "Package p failing for 1m0s: VariantNotFound: Variant x not found in PackageSource p")
}

func TestTrackerDeletionUnblocks(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.observe(obs("a", t0.Add(-time.Hour), Ready, "InstallSucceeded", ""), t0)
	tr.observe(obs("b", t0.Add(-time.Hour), Progressing, "Progressing", ""), t0)
	tr.observe(pkg("p", t0.Add(-time.Hour), Progressing, "NotReconciled", ""), t0)
	tr.markSynced()
	assert.False(t, tr.evaluate(t0).done)
	tr.remove(ref{kind: HelmReleaseKind, key: "ns/b"}, t0)
	assert.False(t, tr.evaluate(t0).done)
	tr.remove(ref{kind: PackageKind, key: "p"}, t0)
	assert.True(t, tr.evaluate(t0).done)
}

func TestTrackerRelist(t *testing.T) {
	ready := obs("a", t0, Ready, "InstallSucceeded", "")
	platform := pkg("platform", t0, Ready, "ReconciliationSucceeded", "")
	start := func() *tracker {
		tr := newTracker(testOpts, t0)
		tr.observe(ready, t0)
		tr.observe(platform, t0)
		tr.markSynced()
		require.True(t, tr.evaluate(t0).done)
		return tr
	}
	t.Run("the same objects at the same versions confirm", func(t *testing.T) {
		tr := start()
		assert.True(t, tr.relist(PackageKind, []Observation{platform}, t0))
		assert.True(t, tr.relist(HelmReleaseKind, []Observation{ready}, t0))
		assert.True(t, tr.evaluate(t0).done)
	})
	t.Run("a release the watch has not shown yet", func(t *testing.T) {
		tr := start()
		assert.True(t, tr.relist(PackageKind, []Observation{platform}, t0))
		assert.False(t, tr.relist(HelmReleaseKind, []Observation{ready, obs("new", t0, Progressing, "NotReconciled", "")}, t0))
		v := tr.evaluate(t0)
		assert.False(t, v.done)
		assert.Equal(t, "HelmReleases ready 1/2, Packages ready 1/1 — waiting on ns/new: NotReconciled", v.status)
	})
	t.Run("a Package the watch has not shown yet", func(t *testing.T) {
		tr := start()
		assert.False(t, tr.relist(PackageKind, []Observation{platform, pkg("new", t0, Progressing, "NotReconciled", "")}, t0))
		assert.False(t, tr.evaluate(t0).done)
	})
	t.Run("a newer version, even Ready, needs another look", func(t *testing.T) {
		tr := start()
		assert.False(t, tr.relist(HelmReleaseKind, []Observation{withRV(ready, "2")}, t0))
		assert.True(t, tr.evaluate(t0).done)
		assert.True(t, tr.relist(HelmReleaseKind, []Observation{withRV(ready, "2")}, t0), "the next listing confirms")
	})
	t.Run("an object gone from the listing", func(t *testing.T) {
		tr := start()
		tr.observe(obs("gone", t0, Progressing, "Progressing", ""), t0)
		assert.False(t, tr.relist(HelmReleaseKind, []Observation{ready}, t0))
		assert.True(t, tr.evaluate(t0).done)
		assert.True(t, tr.relist(PackageKind, []Observation{platform}, t0), "a listing of one kind leaves the other alone")
	})
}

func TestTrackerProgressNamesTheBlocker(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced()
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

	for _, name := range []string{"fail", "prog", "prog-old"} {
		tr.remove(ref{kind: HelmReleaseKind, key: "ns/" + name}, now)
	}
	v = tr.evaluate(now)
	assert.Equal(t, "HelmReleases ready 1/2 — waiting on ns/dep: DependencyNotReady: dependency 'ns/prog' is not ready", v.status)
}

func TestTrackerFailsAfterFailAfter(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced()
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
			tr.markSynced()
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
	tr.markSynced()
	tr.observe(obs("a", t0, WaitingOnDependency, "DependencyNotReady", "dependency 'ns/b' is not ready"), t0)
	v := tr.evaluate(t0.Add(24 * time.Hour))
	require.NoError(t, v.err)
	assert.False(t, v.done)
	assert.True(t, v.recheck.IsZero())
}

func TestTrackerStalledFailsAtOnce(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced()
	tr.observe(obs("a", t0, Stalled, "RetriesExceeded", "install retries exhausted"), t0)
	v := tr.evaluate(t0)
	require.EqualError(t, v.err, "HelmRelease ns/a stalled: RetriesExceeded: install retries exhausted")
	assert.False(t, v.done)
}

func TestTrackerStragglers(t *testing.T) {
	tr := newTracker(testOpts, t0)
	assert.Equal(t, "HelmReleases and Packages never listed", tr.stragglers())
	tr.markSynced()
	tr.observe(obs("ready", t0, Ready, "InstallSucceeded", ""), t0)
	tr.observe(pkg("platform", t0, Ready, "ReconciliationSucceeded", ""), t0)
	assert.Equal(t, "HelmReleases ready 1/1, Packages ready 1/1, not yet confirmed by a fresh listing", tr.stragglers())
	tr.observe(pkg("new", t0.Add(-time.Second), Progressing, "NotReconciled", "no Ready condition yet"), t0)
	for i := range 6 {
		tr.observe(obs(fmt.Sprintf("r%d", i), t0.Add(time.Duration(i)*time.Second), Progressing, "Progressing", "installing"), t0)
	}
	assert.Equal(t, "6 of 7 HelmReleases and 1 of 2 Packages not Ready: Package new: NotReconciled: no Ready condition yet; "+
		"ns/r0: Progressing: installing; ns/r1: Progressing: installing; ns/r2: Progressing: installing; "+
		"ns/r3: Progressing: installing; and 2 more", tr.stragglers())
}

func TestTrackerResult(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced()
	tr.observe(obs("late", t0.Add(time.Minute), Ready, "InstallSucceeded", ""), t0)
	tr.observe(obs("early", t0, Ready, "InstallSucceeded", ""), t0)
	noTransition := obs("seen", t0, Ready, "InstallSucceeded", "")
	noTransition.ReadyAt = metav1.Time{}
	tr.observe(noTransition, t0.Add(5*time.Minute))
	tr.observe(obs("pending", t0, Progressing, "Progressing", ""), t0)
	tr.observe(pkg("platform", t0, Ready, "ReconciliationSucceeded", ""), t0)

	r := tr.result(t0.Add(10 * time.Minute))
	assert.Equal(t, 10*time.Minute, r.Total)
	require.Len(t, r.Releases, 3, "releases only, Ready ones only")
	assert.Equal(t, []string{"early", "late", "seen"}, []string{r.Releases[0].Name, r.Releases[1].Name, r.Releases[2].Name})
	assert.Equal(t, time.Minute, r.Releases[0].Took)
	assert.Equal(t, t0.Add(5*time.Minute), r.Releases[2].ReadyAt, "observation time stands in for a missing transition time")
}

// charted is a Ready release whose chart is the ExternalArtifact ns/<name>-chart, having last
// installed revision rev.
func charted(name, rev string) Observation {
	o := obs(name, t0.Add(-time.Hour), Ready, "UpgradeSucceeded", "")
	o.Chart, o.Revision = "ns/"+name+"-chart", rev
	return o
}

func artifact(name, rev string) Observation {
	return Observation{Kind: ExternalArtifactKind, Namespace: "ns", Name: name, Revision: rev, State: Ready}
}

// A push changes a chart without changing its release's spec: the release stays Ready for its
// generation while helm-controller has yet to upgrade it. The wait holds until the release has
// installed the revision its ExternalArtifact serves.
func TestTrackerWaitsForTheReleaseToInstallItsChartsRevision(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.observe(charted("platform", "latest@sha256:old"), t0)
	tr.observe(artifact("platform-chart", "latest@sha256:new"), t0)
	tr.markSynced()
	v := tr.evaluate(t0)
	require.False(t, v.done, "the release has not installed the new chart")
	assert.Equal(t, "HelmReleases ready 0/1 — waiting on ns/platform: ChartChanged: ExternalArtifact ns/platform-chart serves latest@sha256:new, the release last installed latest@sha256:old", v.status)

	tr.observe(charted("platform", "latest@sha256:new"), t0.Add(time.Second))
	assert.True(t, tr.evaluate(t0.Add(time.Second)).done, "installed: Ready")

	tr.observe(artifact("platform-chart", "latest@sha256:newer"), t0.Add(2*time.Second))
	assert.False(t, tr.evaluate(t0.Add(2*time.Second)).done, "the artifact moved on again")
	tr.remove(ref{kind: ExternalArtifactKind, key: "ns/platform-chart"}, t0.Add(3*time.Second))
	assert.True(t, tr.evaluate(t0.Add(3*time.Second)).done, "no artifact, nothing to compare")
}

// A suspended release (taken over by the package loop) will not install a new chart, and a
// release that records no attempted revision cannot be compared: both count as Ready.
func TestTrackerChartRevisionExceptions(t *testing.T) {
	tr := newTracker(testOpts, t0)
	suspended := charted("dev", "latest@sha256:old")
	suspended.Suspended = true
	tr.observe(suspended, t0)
	tr.observe(charted("norev", ""), t0)
	tr.observe(artifact("dev-chart", "latest@sha256:new"), t0)
	tr.observe(artifact("norev-chart", "latest@sha256:new"), t0)
	tr.markSynced()
	assert.True(t, tr.evaluate(t0).done)
}

// The confirming listing catches an artifact revision the watch had not delivered.
func TestTrackerRelistOfRevisions(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.observe(charted("platform", "latest@sha256:a"), t0)
	tr.observe(artifact("platform-chart", "latest@sha256:a"), t0)
	tr.markSynced()
	require.True(t, tr.evaluate(t0).done)
	assert.True(t, tr.relist(ExternalArtifactKind, []Observation{artifact("platform-chart", "latest@sha256:a")}, t0))
	assert.False(t, tr.relist(ExternalArtifactKind, []Observation{artifact("platform-chart", "latest@sha256:b")}, t0), "a new revision is news")
	assert.False(t, tr.evaluate(t0).done)
}
