package releasewait

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cozylab/cozylab/internal/progress"
)

// Class is how keep-going mode files an object that can no longer become Ready.
type Class string

// The classes of blockers, in the order they are reported.
const (
	// ClassFailed is an object that failed by itself: Stalled, or Failing for FailAfter, with
	// an error of its own.
	ClassFailed Class = "Failed"
	// ClassWaitingOnDependency is an object that waits on a dependency that is itself blocked
	// (or does not exist).
	ClassWaitingOnDependency Class = "WaitingOnDependency"
	// ClassLabLimit is an object that failed because of a limit of the lab (see LabLimit).
	ClassLabLimit Class = "LabLimit"
)

var classOrder = []Class{ClassFailed, ClassWaitingOnDependency, ClassLabLimit}

// Blocker is an object that is not Ready and can no longer become Ready without a change
// from outside: the platform, the charts or the lab.
type Blocker struct {
	// Observation is the object as last seen.
	Observation
	// Class is its class; exactly one.
	Class Class
	// Limit is the lab limit when Class is ClassLabLimit.
	Limit LabLimit
	// FailingFor is how long it had been failing when the wait ended; zero when it stalled or
	// waits on a dependency.
	FailingFor time.Duration
	// Dependency is, for ClassWaitingOnDependency, the key of the first dependency (of the
	// same kind) it waits on that is blocked or absent.
	Dependency string
	// Root is, for ClassWaitingOnDependency, the key at the end of the chain of such
	// dependencies: the object that failed by itself, or one that does not exist.
	Root string
	// RootCause says why Root is blocked: its own summary, "not found", or "dependency cycle".
	RootCause string
}

// Summary says in one line why the object is blocked, without naming it:
// "failing for 3m0s: InstallFailed: ...", "stalled: RetriesExceeded: ...",
// "blocked by a lab limit (webhook), failing for 3m0s: InstallFailed: ...",
// "waiting on ns/b; root blocker ns/a: failing for 3m0s: InstallFailed: ...".
func (b Blocker) Summary() string {
	if b.Class == ClassLabLimit {
		return fmt.Sprintf("blocked by a lab limit (%s), %s", b.Limit, b.Cause())
	}
	return b.Cause()
}

// Cause is Summary without the class, for a reader who is told the class already:
// "stalled: RetriesExceeded: ..." for a lab limit too.
func (b Blocker) Cause() string {
	switch {
	case b.Class == ClassWaitingOnDependency:
		return fmt.Sprintf("waiting on %s; root blocker %s: %s", b.Dependency, b.Root, b.RootCause)
	case b.FailingFor > 0:
		return fmt.Sprintf("failing for %s: %s", progress.Round(b.FailingFor), b.Detail())
	default:
		return "stalled: " + b.Detail()
	}
}

// Counts are the number of blockers in each class.
type Counts struct {
	Failed, WaitingOnDependency, LabLimit int
}

// Total is the number of blockers.
func (c Counts) Total() int { return c.Failed + c.WaitingOnDependency + c.LabLimit }

// String is "3 failed, 7 waiting on a dependency, 2 blocked by a lab limit", leaving out
// classes with none.
func (c Counts) String() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{{c.Failed, "failed"}, {c.WaitingOnDependency, "waiting on a dependency"}, {c.LabLimit, "blocked by a lab limit"}} {
		if p.n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", p.n, p.what))
		}
	}
	return strings.Join(parts, ", ")
}

func countBlockers(bs []Blocker) Counts {
	var c Counts
	for _, b := range bs {
		switch b.Class {
		case ClassFailed:
			c.Failed++
		case ClassWaitingOnDependency:
			c.WaitingOnDependency++
		case ClassLabLimit:
			c.LabLimit++
		}
	}
	return c
}

// blockedError is keep-going mode's one-line error: "wait for HelmReleases: 12 not Ready: 3
// failed, 7 waiting on a dependency, 2 blocked by a lab limit", naming the Packages when some
// are among the blockers.
func blockedError(bs []Blocker) error {
	pkgs := 0
	for _, b := range bs {
		if b.Kind == PackageKind {
			pkgs++
		}
	}
	if pkgs == 0 {
		return fmt.Errorf("wait for HelmReleases: %d not Ready: %s", len(bs), countBlockers(bs))
	}
	return fmt.Errorf("wait for Packages and HelmReleases: %d not Ready (%d Packages, %d HelmReleases): %s",
		len(bs), pkgs, len(bs)-pkgs, countBlockers(bs))
}

// analysis splits the objects not Ready into the blocked and the ones that may still progress.
type analysis struct {
	// blockers are the blocked objects, by class, kind and key.
	blockers []Blocker
	// open are the others, in notReady's order: while there is one, the wait goes on.
	open []*entry
}

// selfBlocked reports whether e can no longer progress by itself: it stalled, or has been
// failing for FailAfter.
func (t *tracker) selfBlocked(e *entry, now time.Time) bool {
	return e.obs.State == Stalled || (!e.failingSince.IsZero() && !now.Before(e.failingSince.Add(t.opts.FailAfter)))
}

// analyse decides, at now, which objects not Ready are blocked: those blocked by themselves,
// and those that wait on a dependency (of the same kind) that is blocked or absent, followed
// transitively. A cycle of objects waiting on each other is blocked too. Everything else not
// Ready — progressing, failing for less than FailAfter, suspended, or waiting on a dependency
// that may still progress — is open.
func (t *tracker) analyse(now time.Time) analysis {
	const (
		unknown = iota
		visiting
		blocked
		free
	)
	memo := map[ref]int{}
	// isBlocked reports whether r is absent or a blocked object not Ready. An object met again
	// while its dependencies are being visited closes a cycle of waiting objects: a deadlock.
	var isBlocked func(r ref) bool
	isBlocked = func(r ref) bool {
		e, ok := t.entries[r]
		switch {
		case !ok:
			return true
		case e.obs.State == Ready:
			return false
		case memo[r] == visiting || memo[r] == blocked:
			return true
		case memo[r] == free:
			return false
		}
		memo[r] = visiting
		b := t.selfBlocked(e, now) || (e.obs.State == WaitingOnDependency &&
			slices.ContainsFunc(e.obs.DependsOn, func(k string) bool { return isBlocked(ref{kind: r.kind, key: k}) }))
		memo[r] = free
		if b {
			memo[r] = blocked
		}
		return b
	}
	var a analysis
	for _, e := range t.notReady() {
		r := refOf(e.obs)
		if !isBlocked(r) {
			a.open = append(a.open, e)
			continue
		}
		a.blockers = append(a.blockers, t.blocker(e, now, func(k string) bool { return isBlocked(ref{kind: r.kind, key: k}) }))
	}
	slices.SortFunc(a.blockers, func(x, y Blocker) int {
		return cmp.Or(
			cmp.Compare(slices.Index(classOrder, x.Class), slices.Index(classOrder, y.Class)),
			strings.Compare(string(x.Kind), string(y.Kind)),
			strings.Compare(x.Key(), y.Key()),
		)
	})
	return a
}

// blocker classifies the blocked object e; blockedKey tells whether a key of its kind is
// blocked (or absent).
func (t *tracker) blocker(e *entry, now time.Time, blockedKey func(string) bool) Blocker {
	if t.selfBlocked(e, now) {
		return t.ownBlocker(e, now)
	}
	b := Blocker{Observation: e.obs, Class: ClassWaitingOnDependency}
	b.Dependency = firstBlocked(e, blockedKey)
	seen := map[string]bool{e.obs.Key(): true}
	cur := b.Dependency
	for {
		d, ok := t.entries[ref{kind: e.obs.Kind, key: cur}]
		switch {
		case !ok:
			b.Root, b.RootCause = cur, "not found"
			return b
		case t.selfBlocked(d, now):
			b.Root, b.RootCause = cur, t.ownBlocker(d, now).Summary()
			return b
		case seen[cur]:
			b.Root, b.RootCause = cur, "dependency cycle"
			return b
		}
		seen[cur] = true
		cur = firstBlocked(d, blockedKey)
	}
}

// ownBlocker classifies an object blocked by itself: a lab limit if its message names one,
// else failed.
func (t *tracker) ownBlocker(e *entry, now time.Time) Blocker {
	b := Blocker{Observation: e.obs, Class: ClassFailed}
	if e.obs.State != Stalled && !e.failingSince.IsZero() {
		b.FailingFor = now.Sub(e.failingSince)
	}
	if l := LabLimitOf(e.obs.Message); l != "" {
		b.Class, b.Limit = ClassLabLimit, l
	}
	return b
}

// firstBlocked is the first of e's dependencies that is blocked or absent. e is blocked and
// waits on a dependency, so there is one; a cycle ends on e itself.
func firstBlocked(e *entry, blockedKey func(string) bool) string {
	for _, k := range e.obs.DependsOn {
		if blockedKey(k) {
			return k
		}
	}
	return e.obs.Key()
}
