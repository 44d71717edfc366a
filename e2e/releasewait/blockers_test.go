package releasewait

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
)

var keepGoing = Options{FailAfter: time.Minute, KeepGoing: true}

// waiting is a HelmRelease in namespace ns that waits on deps (names in ns, or "other/x").
func waiting(name string, deps ...string) Observation {
	o := obs(name, t0, WaitingOnDependency, "DependencyNotReady", "dependency not ready")
	for _, d := range deps {
		if !strings.Contains(d, "/") {
			d = "ns/" + d
		}
		o.DependsOn = append(o.DependsOn, d)
	}
	return o
}

// summarise returns each blocker as "key class [limit] [on dependency root root]".
func summarise(bs []Blocker) []string {
	var out []string
	for _, b := range bs {
		s := b.Key() + " " + string(b.Class)
		if b.Limit != "" {
			s += " " + string(b.Limit)
		}
		if b.Class == ClassWaitingOnDependency {
			s += " on " + b.Dependency + " root " + b.Root
		}
		out = append(out, s)
	}
	return out
}

// TestKeepGoingChain is a chain a ← b ← c (b depends on a, c on b) where a fails: the wait goes
// on while a may still heal, and ends once a has failed for FailAfter, with b and c waiting on
// it.
func TestKeepGoingChain(t *testing.T) {
	tr := newTracker(keepGoing, t0)
	tr.markSynced()
	tr.observe(obs("ready", t0, Ready, "InstallSucceeded", ""), t0)
	tr.observe(obs("a", t0, Failing, "InstallFailed", "boom"), t0)
	tr.observe(waiting("b", "a"), t0)
	tr.observe(waiting("c", "b"), t0)

	v := tr.evaluate(t0.Add(59 * time.Second))
	require.NoError(t, v.err, "keep-going never fails at once")
	assert.False(t, v.blocked, "a may still heal")
	assert.Equal(t, t0.Add(time.Minute), v.recheck)
	assert.Equal(t, "HelmReleases ready 1/4 — waiting on ns/a: InstallFailed: boom", v.status)

	now := t0.Add(time.Minute)
	v = tr.evaluate(now)
	require.NoError(t, v.err)
	assert.True(t, v.blocked)
	assert.False(t, v.done)
	assert.Equal(t, "HelmReleases ready 1/4, 3 blocked — nothing more can progress", v.status)

	res := tr.result(now)
	assert.Equal(t, []string{"ns/a Failed", "ns/b WaitingOnDependency on ns/a root ns/a", "ns/c WaitingOnDependency on ns/b root ns/a"},
		summarise(res.Blockers))
	assert.Equal(t, Counts{Failed: 1, WaitingOnDependency: 2}, res.Counts)
	assert.Empty(t, res.Unfinished)
	require.Len(t, res.Releases, 1)
	assert.Equal(t, "failing for 1m0s: InstallFailed: boom", res.Blockers[0].Summary())
	assert.Equal(t, "waiting on ns/b; root blocker ns/a: failing for 1m0s: InstallFailed: boom", res.Blockers[2].Summary())
	assert.EqualError(t, blockedError(res.Blockers), "wait for HelmReleases: 3 not Ready: 1 failed, 2 waiting on a dependency")
}

func TestKeepGoingProgressingHoldsTheWait(t *testing.T) {
	tr := newTracker(keepGoing, t0)
	tr.markSynced()
	tr.observe(obs("a", t0, Stalled, "RetriesExceeded", "install retries exhausted"), t0)
	tr.observe(waiting("b", "a"), t0)
	tr.observe(obs("slow", t0, Progressing, "Progressing", "installing"), t0)
	tr.observe(pkg("p", t0, Ready, "ReconciliationSucceeded", ""), t0)

	v := tr.evaluate(t0.Add(24 * time.Hour))
	require.NoError(t, v.err)
	assert.False(t, v.blocked)
	assert.Equal(t, "HelmReleases ready 0/3, Packages ready 1/1, 2 blocked — waiting on ns/slow: Progressing: installing", v.status,
		"the line names what holds the wait, not a blocker")
	assert.True(t, v.recheck.IsZero(), "only an event can end this wait")
	res := tr.result(t0.Add(24 * time.Hour))
	assert.Len(t, res.Blockers, 2)
	require.Len(t, res.Unfinished, 1, "at a timeout, what could still progress")
	assert.Equal(t, "slow", res.Unfinished[0].Name)

	tr.observe(obs("slow", t0, Ready, "InstallSucceeded", ""), t0.Add(24*time.Hour))
	v = tr.evaluate(t0.Add(24 * time.Hour))
	assert.True(t, v.blocked)
}

func TestKeepGoingLabLimit(t *testing.T) {
	tr := newTracker(keepGoing, t0)
	tr.markSynced()
	tr.observe(obs("hook", t0, Stalled, "RetriesExceeded",
		`Helm install failed: Internal error occurred: failed calling webhook "x": no endpoints available for service "x"`), t0)
	tr.observe(obs("crd", t0, Failing, "InstallFailed", `no matches for kind "ClusterIssuer" in version "cert-manager.io/v1"`), t0)
	tr.observe(waiting("app", "crd"), t0)

	assert.False(t, tr.evaluate(t0).blocked, "crd may still heal")
	now := t0.Add(time.Minute)
	v := tr.evaluate(now)
	assert.True(t, v.blocked)
	res := tr.result(now)
	assert.Equal(t, []string{"ns/app WaitingOnDependency on ns/crd root ns/crd", "ns/crd LabLimit missing-crd", "ns/hook LabLimit webhook"},
		summarise(res.Blockers))
	assert.Equal(t, Counts{WaitingOnDependency: 1, LabLimit: 2}, res.Counts)
	assert.Equal(t, `blocked by a lab limit (webhook), stalled: RetriesExceeded: Helm install failed: Internal error occurred: failed calling webhook "x": no endpoints available for service "x"`,
		res.Blockers[2].Summary())
	assert.Equal(t, `stalled: RetriesExceeded: Helm install failed: Internal error occurred: failed calling webhook "x": no endpoints available for service "x"`,
		res.Blockers[2].Cause(), "the class left to the reader who knows it")
	assert.EqualError(t, blockedError(res.Blockers), "wait for HelmReleases: 3 not Ready: 1 waiting on a dependency, 2 blocked by a lab limit")
}

func TestKeepGoingDependencies(t *testing.T) {
	tests := []struct {
		name     string
		objs     []Observation
		blocked  bool
		blockers []string
		cause    string // RootCause of the first blocker
	}{
		{"an absent dependency blocks", []Observation{waiting("a", "other/ghost")},
			true, []string{"ns/a WaitingOnDependency on other/ghost root other/ghost"}, "not found"},
		{"a dependency that may still heal does not",
			[]Observation{obs("a", t0, Failing, "InstallFailed", "boom"), waiting("b", "a")}, false, nil, ""},
		{"a Ready dependency does not: the waiter will be retried",
			[]Observation{obs("a", t0, Ready, "InstallSucceeded", ""), waiting("b", "a")}, false, nil, ""},
		{"a waiter with no known dependency does not", []Observation{waiting("a")}, false, nil, ""},
		{"one blocked dependency of several blocks",
			[]Observation{obs("slow", t0, Progressing, "Progressing", ""), waiting("b", "slow", "ghost")},
			false, []string{"ns/b WaitingOnDependency on ns/ghost root ns/ghost"}, "not found"},
		{"a cycle is a deadlock", []Observation{waiting("a", "b"), waiting("b", "a")},
			true, []string{"ns/a WaitingOnDependency on ns/b root ns/a", "ns/b WaitingOnDependency on ns/a root ns/b"}, "dependency cycle"},
		{"the first blocked dependency is named",
			[]Observation{obs("fine", t0, Ready, "InstallSucceeded", ""), obs("x", t0, Stalled, "RetriesExceeded", "no"),
				waiting("y", "fine", "x")},
			true, []string{"ns/x Failed", "ns/y WaitingOnDependency on ns/x root ns/x"}, ""},
		{"Packages follow status.dependencies",
			[]Observation{pkg("base", t0, Stalled, "X", "broken"), func() Observation {
				o := pkg("app", t0, WaitingOnDependency, "DependenciesNotReady", "base")
				o.DependsOn = []string{"base"}
				return o
			}()},
			true, []string{"base Failed", "app WaitingOnDependency on base root base"}, ""},
		{"a suspended release holds the wait",
			[]Observation{obs("s", t0, Suspended, "Suspended", ""), obs("x", t0, Stalled, "RetriesExceeded", "no")},
			false, []string{"ns/x Failed"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tr := newTracker(keepGoing, t0)
			tr.markSynced()
			for _, o := range tt.objs {
				tr.observe(o, t0)
			}
			v := tr.evaluate(t0.Add(time.Second))
			require.NoError(t, v.err)
			assert.Equal(t, tt.blocked, v.blocked, v.status)
			res := tr.result(t0.Add(time.Second))
			assert.Equal(t, tt.blockers, summarise(res.Blockers))
			if tt.cause != "" {
				assert.Equal(t, tt.cause, res.Blockers[0].RootCause)
			}
		})
	}
}

func TestKeepGoingPackagesInTheError(t *testing.T) {
	bs := []Blocker{
		{Observation: pkg("p", t0, Stalled, "X", ""), Class: ClassFailed},
		{Observation: obs("a", t0, Stalled, "X", ""), Class: ClassLabLimit, Limit: LimitImage},
	}
	assert.EqualError(t, blockedError(bs), "wait for Packages and HelmReleases: 2 not Ready (1 Packages, 1 HelmReleases): 1 failed, 1 blocked by a lab limit")
	assert.Equal(t, 2, countBlockers(bs).Total())
}

func TestFailFastIgnoresKeepGoingFields(t *testing.T) {
	tr := newTracker(testOpts, t0)
	tr.markSynced()
	tr.observe(obs("a", t0, Stalled, "RetriesExceeded", "no"), t0)
	v := tr.evaluate(t0)
	require.Error(t, v.err)
	assert.False(t, v.blocked)
	assert.Empty(t, tr.result(t0).Blockers, "blockers are listed in keep-going mode only")
}

// TestLoopEndsBlocked drives the loop in keep-going mode: a blocked verdict is confirmed by a
// listing before the wait ends with every blocker.
func TestLoopEndsBlocked(t *testing.T) {
	opts := keepGoing
	opts.Timeout = time.Minute
	opts.Step = (&progress.Recorder{}).Begin("platform")
	tr, q := newTracker(opts, time.Now()), newQueue()
	synced := make(chan struct{})
	close(synced)
	stalled := obs("a", t0, Stalled, "RetriesExceeded", "no")
	dep := waiting("b", "a")
	q.set(refOf(stalled), &stalled)
	q.set(refOf(dep), &dep)
	listed := 0
	confirm := func(_ context.Context, now time.Time) (bool, error) {
		listed++
		return tr.relist(HelmReleaseKind, []Observation{stalled, dep}, now), nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	res, err := loop(ctx, tr, q, synced, opts, confirm)
	require.EqualError(t, err, "wait for HelmReleases: 2 not Ready: 1 failed, 1 waiting on a dependency")
	assert.Equal(t, 1, listed)
	assert.Equal(t, []string{"ns/a Failed", "ns/b WaitingOnDependency on ns/a root ns/a"}, summarise(res.Blockers))
	assert.NoError(t, ctx.Err(), "ended before its timeout")
}
