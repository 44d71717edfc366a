package releasewait

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/cozylab/cozylab/internal/progress"
)

// tracker is the waiter's whole decision logic, free of clients and clocks: it is fed
// observations with the time they were made and says, for a given now, whether the wait is done,
// failed, or what to show and when to look again if nothing else happens.
type tracker struct {
	opts    Options
	start   time.Time
	synced  bool
	entries map[ref]*entry
	// revisions are the ExternalArtifacts' current revisions, by key: not objects to wait for,
	// but what a release must have installed to count as Ready (see judge).
	revisions map[string]string
}

// ref identifies a watched object across kinds.
type ref struct {
	kind Kind
	key  string
}

func refOf(o Observation) ref { return ref{kind: o.Kind, key: o.Key()} }

type entry struct {
	// raw is the object as classified alone; obs is how the wait counts it (judge).
	raw Observation
	obs Observation
	// failingSince starts the first time the object is seen Failing for a generation and
	// survives the Progressing flips of helm-controller's retries; Ready, a dependency wait, a
	// suspension or a new generation end it.
	failingSince time.Time
	failingGen   int64
	// seenReady is when the waiter first saw it Ready, the fallback for a condition without a
	// transition time.
	seenReady time.Time
}

// verdict is what evaluate decided.
type verdict struct {
	// done means every object the tracker knows is Ready; the wait still confirms it with a
	// fresh listing before it ends.
	done bool
	// blocked, in keep-going mode, means objects are not Ready but none can progress any more;
	// the wait confirms it like done, then ends with the blockers.
	blocked bool
	err     error
	// status is the progress line.
	status string
	// recheck is when the verdict changes by itself (FailAfter running out) if no event comes
	// first; zero when only an event can change it.
	recheck time.Time
}

func newTracker(opts Options, start time.Time) *tracker {
	return &tracker{opts: opts, start: start, entries: map[ref]*entry{}, revisions: map[string]string{}}
}

// observe records an object's latest state.
func (t *tracker) observe(o Observation, now time.Time) {
	if o.Kind == ExternalArtifactKind {
		t.revisions[o.Key()] = o.Revision
		t.rejudge(o.Key(), now)
		return
	}
	e, ok := t.entries[refOf(o)]
	if !ok {
		e = &entry{}
		t.entries[refOf(o)] = e
	}
	e.raw = o
	t.update(e, t.judge(o), now)
}

// judge is how the wait counts a classified object: a HelmRelease Ready for its generation whose
// chart's ExternalArtifact now serves another revision than the one it last attempted is still
// progressing — helm-controller will upgrade it (a push changed the chart without changing the
// release's spec, so its generation and Ready condition say nothing of it). A suspended release
// will not, and stays Ready; so does a release that records no attempted revision (nothing to
// compare).
func (t *tracker) judge(o Observation) Observation {
	if o.Kind != HelmReleaseKind || o.State != Ready || o.Suspended || o.Chart == "" || o.Revision == "" {
		return o
	}
	current := t.revisions[o.Chart]
	if current == "" || current == o.Revision {
		return o
	}
	o.State, o.Reason = Progressing, "ChartChanged"
	o.Message = fmt.Sprintf("ExternalArtifact %s serves %s, the release last installed %s", o.Chart, current, o.Revision)
	return o
}

// rejudge judges again the releases whose chart is the ExternalArtifact key.
func (t *tracker) rejudge(key string, now time.Time) {
	for _, e := range t.entries {
		if e.raw.Chart == key {
			t.update(e, t.judge(e.raw), now)
		}
	}
}

// update records o, as judged, in e.
func (t *tracker) update(e *entry, o Observation, now time.Time) {
	e.obs = o
	switch o.State {
	case Failing:
		if e.failingSince.IsZero() || e.failingGen != o.Generation {
			e.failingSince, e.failingGen = now, o.Generation
		}
	case Progressing:
		if e.failingGen != o.Generation {
			e.failingSince = time.Time{}
		}
	case Stalled:
	default:
		e.failingSince = time.Time{}
	}
	if o.State == Ready && e.seenReady.IsZero() {
		e.seenReady = now
	}
}

// remove forgets a deleted object.
func (t *tracker) remove(r ref, now time.Time) {
	if r.kind == ExternalArtifactKind {
		delete(t.revisions, r.key)
		t.rejudge(r.key, now)
		return
	}
	delete(t.entries, r)
}

// markSynced ends the initial listing of every kind.
func (t *tracker) markSynced() { t.synced = true }

// relist replaces what the tracker knows of kind with a fresh listing, and reports whether the
// listing showed exactly what it knew: the same objects at the same resource versions.
func (t *tracker) relist(kind Kind, listed []Observation, now time.Time) (unchanged bool) {
	if kind == ExternalArtifactKind {
		return t.relistRevisions(listed, now)
	}
	unchanged = true
	seen := map[ref]bool{}
	for _, o := range listed {
		r := refOf(o)
		seen[r] = true
		if e, ok := t.entries[r]; !ok || e.obs.ResourceVersion != o.ResourceVersion {
			unchanged = false
		}
		t.observe(o, now)
	}
	for r := range t.entries {
		if r.kind == kind && !seen[r] {
			delete(t.entries, r)
			unchanged = false
		}
	}
	return unchanged
}

// relistRevisions replaces the ExternalArtifacts' revisions with a fresh listing, and reports
// whether it showed the same revisions.
func (t *tracker) relistRevisions(listed []Observation, now time.Time) bool {
	fresh := map[string]string{}
	for _, o := range listed {
		fresh[o.Key()] = o.Revision
	}
	unchanged := maps.Equal(fresh, t.revisions)
	if !unchanged {
		t.revisions = fresh
		for _, e := range t.entries {
			t.update(e, t.judge(e.raw), now)
		}
	}
	return unchanged
}

// evaluate decides the wait at time now. There is no minimum count and no settle period: the
// platform is complete when every Package is Ready for its current generation (the operator
// has written all its HelmReleases) and every HelmRelease is Ready for its own.
//
// In keep-going mode a stalled or failing object does not end the wait: the wait is decided
// (blocked) once every object not Ready is blocked, by itself or by a dependency (see analyse).
func (t *tracker) evaluate(now time.Time) verdict {
	if !t.synced {
		return verdict{status: "listing HelmReleases and Packages"}
	}
	var v verdict
	pending := t.notReady()
	for _, e := range pending {
		switch {
		case e.obs.State == Stalled && !t.opts.KeepGoing:
			return verdict{err: fmt.Errorf("%s stalled: %s", e.obs.Ref(), e.obs.Detail())}
		case e.obs.State == Stalled:
		case !e.failingSince.IsZero():
			deadline := e.failingSince.Add(t.opts.FailAfter)
			switch {
			case now.Before(deadline):
				v.recheck = earliest(v.recheck, deadline)
			case !t.opts.KeepGoing:
				return verdict{err: fmt.Errorf("%s failing for %s: %s",
					e.obs.Ref(), progress.Round(now.Sub(e.failingSince)), e.obs.Detail())}
			}
		}
	}
	head := t.head()
	if len(pending) == 0 {
		return verdict{done: true, status: head}
	}
	if !t.opts.KeepGoing {
		v.status = fmt.Sprintf("%s — waiting on %s: %s", head, pending[0].obs.label(), pending[0].obs.Detail())
		return v
	}
	a := t.analyse(now)
	if len(a.blockers) > 0 {
		head += fmt.Sprintf(", %d blocked", len(a.blockers))
	}
	if len(a.open) == 0 {
		return verdict{blocked: true, status: head + " — nothing more can progress"}
	}
	v.status = fmt.Sprintf("%s — waiting on %s: %s", head, a.open[0].obs.label(), a.open[0].obs.Detail())
	return v
}

// head is "HelmReleases ready 37/52", with ", Packages ready 10/11" when there are Packages.
func (t *tracker) head() string {
	ready, total := t.count(HelmReleaseKind)
	head := fmt.Sprintf("HelmReleases ready %d/%d", ready, total)
	if ready, total := t.count(PackageKind); total > 0 {
		head += fmt.Sprintf(", Packages ready %d/%d", ready, total)
	}
	return head
}

func (t *tracker) count(kind Kind) (ready, total int) {
	for r, e := range t.entries {
		if r.kind != kind {
			continue
		}
		total++
		if e.obs.State == Ready {
			ready++
		}
	}
	return ready, total
}

// notReady returns the objects not Ready, the one to show first: worst state (failing before
// progressing before waiting on a dependency, which is itself one of the others), then oldest.
func (t *tracker) notReady() []*entry {
	var out []*entry
	for _, e := range t.entries {
		if e.obs.State != Ready {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *entry) int {
		return cmp.Or(
			cmp.Compare(rank(a.obs.State), rank(b.obs.State)),
			a.obs.Created.Compare(b.obs.Created.Time),
			strings.Compare(a.obs.Ref(), b.obs.Ref()),
		)
	})
	return out
}

func rank(s State) int {
	switch s {
	case Stalled:
		return 0
	case Failing:
		return 1
	case Progressing:
		return 2
	case Suspended:
		return 3
	default:
		return 4
	}
}

// stragglers describes what is not Ready for a timeout error: how many of each kind, and the
// first few with their reasons.
func (t *tracker) stragglers() string {
	if !t.synced {
		return "HelmReleases and Packages never listed"
	}
	pending := t.notReady()
	if len(pending) == 0 {
		return t.head() + ", not yet confirmed by a fresh listing"
	}
	const shown = 5
	parts := make([]string, 0, shown+1)
	for i, e := range pending {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(pending)-shown))
			break
		}
		parts = append(parts, e.obs.label()+": "+e.obs.Detail())
	}
	hrReady, hrTotal := t.count(HelmReleaseKind)
	pkgReady, pkgTotal := t.count(PackageKind)
	return fmt.Sprintf("%d of %d HelmReleases and %d of %d Packages not Ready: %s",
		hrTotal-hrReady, hrTotal, pkgTotal-pkgReady, pkgTotal, strings.Join(parts, "; "))
}

// result lists the Ready releases by the time they turned Ready and, in keep-going mode, the
// blockers and the objects that could still progress.
func (t *tracker) result(now time.Time) Result {
	r := Result{Total: now.Sub(t.start)}
	if t.opts.KeepGoing && t.synced {
		a := t.analyse(now)
		r.Blockers, r.Counts = a.blockers, countBlockers(a.blockers)
		for _, e := range a.open {
			r.Unfinished = append(r.Unfinished, e.obs)
		}
	}
	for ref, e := range t.entries {
		if ref.kind != HelmReleaseKind || e.obs.State != Ready {
			continue
		}
		at := e.obs.ReadyAt.Time
		if at.IsZero() {
			at = e.seenReady
		}
		r.Releases = append(r.Releases, Release{
			Namespace: e.obs.Namespace, Name: e.obs.Name,
			Created: e.obs.Created.Time, ReadyAt: at, Took: at.Sub(e.obs.Created.Time),
		})
	}
	slices.SortFunc(r.Releases, func(a, b Release) int {
		return cmp.Or(a.ReadyAt.Compare(b.ReadyAt), strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name))
	})
	return r
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}
