package releasewait

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cozylab/cozylab/internal/progress"
)

// tracker is the waiter's whole decision logic, free of clients and clocks: it is fed
// observations with the time they were made and says, for a given now, whether the wait is done,
// failed, or what to show and when to look again if nothing else happens.
type tracker struct {
	opts       Options
	start      time.Time
	synced     bool
	lastGrowth time.Time
	releases   map[string]*entry
}

type entry struct {
	obs Observation
	// failingSince starts the first time the release is seen Failing for a generation and
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
	done bool
	err  error
	// status is the progress line.
	status string
	// recheck is when the verdict changes by itself (a settle period or FailAfter running out)
	// if no event comes first; zero when only an event can change it.
	recheck time.Time
}

func newTracker(opts Options, start time.Time) *tracker {
	return &tracker{opts: opts, start: start, releases: map[string]*entry{}}
}

// observe records a release's latest state.
func (t *tracker) observe(o Observation, now time.Time) {
	e, ok := t.releases[o.Key()]
	if !ok {
		e = &entry{}
		t.releases[o.Key()] = e
		if t.synced {
			t.lastGrowth = now
		}
	}
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

// remove forgets a deleted release. A shrinking set needs no settling.
func (t *tracker) remove(key string) { delete(t.releases, key) }

// markSynced ends the initial listing. The set last grew when its newest member was created (an
// already-installed platform is done at once), or at the start when it is empty.
func (t *tracker) markSynced(now time.Time) {
	t.synced = true
	t.lastGrowth = t.start
	if len(t.releases) > 0 {
		t.lastGrowth = time.Time{}
		for _, e := range t.releases {
			if c := e.obs.Created.Time; c.After(t.lastGrowth) {
				t.lastGrowth = c
			}
		}
		t.lastGrowth = minTime(t.lastGrowth, now)
	}
}

// evaluate decides the wait at time now.
func (t *tracker) evaluate(now time.Time) verdict {
	if !t.synced {
		return verdict{status: "listing HelmReleases"}
	}
	var v verdict
	pending := t.notReady()
	for _, e := range pending {
		switch {
		case e.obs.State == Stalled:
			return verdict{err: fmt.Errorf("HelmRelease %s stalled: %s", e.obs.Key(), e.obs.Detail())}
		case !e.failingSince.IsZero():
			deadline := e.failingSince.Add(t.opts.FailAfter)
			if !now.Before(deadline) {
				return verdict{err: fmt.Errorf("HelmRelease %s failing for %s: %s",
					e.obs.Key(), progress.Round(now.Sub(e.failingSince)), e.obs.Detail())}
			}
			v.recheck = earliest(v.recheck, deadline)
		}
	}
	total := len(t.releases)
	head := fmt.Sprintf("HelmReleases ready %d/%d", total-len(pending), total)
	switch {
	case len(pending) > 0:
		v.status = fmt.Sprintf("%s — waiting on %s: %s", head, pending[0].obs.Key(), pending[0].obs.Detail())
	case total < t.opts.MinReleases:
		v.status = fmt.Sprintf("%s — waiting for at least %d", head, t.opts.MinReleases)
	default:
		settled := t.lastGrowth.Add(t.opts.Settle)
		if !now.Before(settled) {
			return verdict{done: true, status: head}
		}
		v.status = fmt.Sprintf("%s — settling, no new HelmRelease for %s", head, progress.Round(t.opts.Settle))
		v.recheck = earliest(v.recheck, settled)
	}
	return v
}

// notReady returns the releases not Ready, the one to show first: worst state (failing before
// progressing before waiting on a dependency, which is itself one of the others), then oldest.
func (t *tracker) notReady() []*entry {
	var out []*entry
	for _, e := range t.releases {
		if e.obs.State != Ready {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b *entry) int {
		return cmp.Or(
			cmp.Compare(rank(a.obs.State), rank(b.obs.State)),
			a.obs.Created.Compare(b.obs.Created.Time),
			strings.Compare(a.obs.Key(), b.obs.Key()),
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

// stragglers describes the releases not Ready for a timeout error: how many, and the first few
// with their reasons.
func (t *tracker) stragglers() string {
	if !t.synced {
		return "HelmReleases never listed"
	}
	pending := t.notReady()
	if len(pending) == 0 {
		return fmt.Sprintf("all %d Ready, fewer than %d or not settled", len(t.releases), t.opts.MinReleases)
	}
	const shown = 5
	parts := make([]string, 0, shown+1)
	for i, e := range pending {
		if i == shown {
			parts = append(parts, fmt.Sprintf("and %d more", len(pending)-shown))
			break
		}
		parts = append(parts, e.obs.Key()+": "+e.obs.Detail())
	}
	return fmt.Sprintf("%d of %d not Ready: %s", len(pending), len(t.releases), strings.Join(parts, "; "))
}

// result lists the Ready releases by the time they turned Ready.
func (t *tracker) result(now time.Time) Result {
	r := Result{Total: now.Sub(t.start)}
	for _, e := range t.releases {
		if e.obs.State != Ready {
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

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}
