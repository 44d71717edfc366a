package releasewait

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/cozylab/cozylab/internal/progress"
)

// Options says which HelmReleases to wait for and how patiently. Zero values take the defaults.
// Every Package is waited for (they are cluster-scoped); Namespace and LabelSelector narrow the
// HelmReleases, and must keep every release of those Packages in view.
type Options struct {
	// Namespace limits the HelmReleases to one namespace; empty means all.
	Namespace string
	// LabelSelector limits the HelmReleases to matching ones, e.g. "cozystack.io/package=x".
	LabelSelector string
	// FailAfter is how long one release or Package may stay Failing (Ready=False with a failure
	// reason, across helm-controller's retries) before the wait fails naming it (default 5m). A
	// dependency wait never fails; Stalled=True fails at once. In keep-going mode "fails" means
	// "counts as blocked".
	FailAfter time.Duration
	// Timeout bounds the whole wait (default 15m, upstream's `kubectl wait hr --all` budget).
	Timeout time.Duration
	// KeepGoing lets a stalled or failing object not end the wait: the wait ends when nothing
	// more can progress — every object not Ready is Stalled, Failing for FailAfter, or waits on
	// a dependency that is blocked or absent (out of view of Namespace and LabelSelector counts
	// as absent) — and Result lists every blocker, classified. It still ends at Timeout. For a
	// platform tree whose whole list of blockers is wanted in one run.
	KeepGoing bool
	// Step receives the live status line; nil shows nothing. The caller opens and ends it.
	Step progress.Step
}

func (o Options) withDefaults() Options {
	if o.FailAfter <= 0 {
		o.FailAfter = 5 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 15 * time.Minute
	}
	if o.Step == nil {
		o.Step = progress.Discard.Begin("")
	}
	return o
}

// Result tells when each release turned Ready, for a timing table, and in keep-going mode what
// blocked the others.
type Result struct {
	// Releases are the Ready releases in the order they turned Ready.
	Releases []Release
	// Blockers are, in keep-going mode, the objects not Ready that could no longer progress,
	// by class, kind and key; Counts counts them by class.
	Blockers []Blocker
	Counts   Counts
	// Unfinished are, in keep-going mode, the objects not Ready that could still progress
	// when the wait ended (at its timeout), in the progress line's order.
	Unfinished []Observation
	// Total is how long Wait took.
	Total time.Duration
}

// Release is one Ready HelmRelease's timing.
type Release struct {
	// Namespace and Name identify the release.
	Namespace, Name string
	// Created is the release's creation time.
	Created time.Time
	// ReadyAt is when its Ready condition last turned True (server clock).
	ReadyAt time.Time
	// Took is ReadyAt - Created: how long the install (or last upgrade) took from creation.
	Took time.Duration
}

// retryConfirm is how long Wait waits before listing again after a failed confirming listing.
const retryConfirm = time.Second

// Wait watches Packages and HelmReleases through cfg until every Package is Ready for its
// current generation and every HelmRelease Ready for its own, confirmed by a fresh listing; or a
// Package or release fails for longer than FailAfter, a release stalls, or the timeout passes.
// In keep-going mode a failure does not end the wait: it ends, with an error counting the
// blockers by class, once nothing more can progress, also confirmed by a fresh listing.
// It returns the timing of the Ready releases in every case. A missing CRD is not an error: the
// watch retries until it appears or the timeout passes.
func Wait(ctx context.Context, cfg *rest.Config, opts Options) (Result, error) {
	opts = opts.withDefaults()
	start := time.Now()
	if _, err := labels.Parse(opts.LabelSelector); err != nil {
		return Result{}, fmt.Errorf("parse label selector %q for HelmReleases: %w", opts.LabelSelector, err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Result{}, fmt.Errorf("create client for HelmReleases and Packages: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	// The informers log through the context's logger; a library stays quiet and reports watch
	// errors in the status line instead.
	ctx = logr.NewContext(ctx, logr.Discard())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	q := newQueue()
	srcs := sources(opts)
	var hasSynced []cache.InformerSynced
	for _, s := range srcs {
		informer := s.informer(client)
		if err := informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) { q.fail(err) }); err != nil {
			return Result{}, fmt.Errorf("watch %ss: %w", s.kind, err)
		}
		reg, err := informer.AddEventHandler(q.handler(s))
		if err != nil {
			return Result{}, fmt.Errorf("watch %ss: %w", s.kind, err)
		}
		hasSynced = append(hasSynced, reg.HasSynced)
		wg.Add(1)
		go func() { defer wg.Done(); informer.RunWithContext(ctx) }()
	}
	synced := make(chan struct{})
	wg.Add(1)
	go func() {
		defer wg.Done()
		if cache.WaitForCacheSync(ctx.Done(), hasSynced...) {
			close(synced)
		}
	}()
	t := newTracker(opts, start)
	return loop(ctx, t, q, synced, opts, func(ctx context.Context, now time.Time) (bool, error) {
		return confirm(ctx, client, srcs, t, now)
	})
}

// confirm checks a verdict the watches gave by listing every source straight from the API server
// (a consistent read), Packages before HelmReleases, and feeding the listings to t. It reports
// whether they showed exactly what the watches had shown, which makes the verdict hold for the
// moment of the listing: the Packages listed are Ready at their generation, so the operator
// wrote each one's HelmReleases before the Package listing, hence before the release listing,
// which shows them; and the releases listed are Ready at versions the watches had already
// shown, so the Packages their charts created existed before the Package listing, which shows
// them. Two watches alone promise neither: one may deliver a Package's Ready before the other
// delivers the release written just before it.
func confirm(ctx context.Context, c dynamic.Interface, srcs []source, t *tracker, now time.Time) (bool, error) {
	confirmed := true
	for _, s := range srcs {
		listed, err := s.list(ctx, c)
		if err != nil {
			return false, err
		}
		if !t.relist(s.kind, listed, now) {
			confirmed = false
		}
	}
	return confirmed, nil
}

// loop feeds events and timer expiries to the tracker until it decides, and has every verdict
// of done confirmed before it returns it.
func loop(ctx context.Context, t *tracker, q *queue, synced <-chan struct{}, opts Options,
	confirm func(context.Context, time.Time) (bool, error)) (Result, error) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	shown := ""
	show := func(status string) {
		if status != shown {
			opts.Step.Status("%s", status)
			shown = status
		}
	}
	for {
		select {
		case <-ctx.Done():
			return timedOut(ctx, t, q, opts)
		case <-synced:
			synced = nil
			q.drain(t, time.Now())
			t.markSynced()
		case <-q.notify:
			q.drain(t, time.Now())
		case <-timer.C:
		}
		now := time.Now()
		v := t.evaluate(now)
		status := v.status
		if werr := q.lastError(); !t.synced && werr != nil {
			status += ": " + werr.Error()
		}
		timer.Stop()
		switch {
		case v.err != nil:
			show(status)
			return t.result(now), fmt.Errorf("wait for Packages and HelmReleases: %w", v.err)
		case v.done || v.blocked:
			ok, err := confirm(ctx, now)
			switch {
			case ok && v.blocked:
				show(status)
				res := t.result(now)
				return res, blockedError(res.Blockers)
			case ok:
				show(status)
				return t.result(now), nil
			case err != nil && ctx.Err() == nil:
				show(status + " — confirming: " + err.Error())
				timer.Reset(retryConfirm)
			case err == nil:
				q.wake() // the listing showed changes: evaluate them
			}
		default:
			show(status)
			if !v.recheck.IsZero() {
				timer.Reset(max(v.recheck.Sub(now), 0))
			}
		}
	}
}

// timedOut ends the wait when ctx ends, naming what was not Ready.
func timedOut(ctx context.Context, t *tracker, q *queue, opts Options) (Result, error) {
	now := time.Now()
	q.drain(t, now)
	detail := t.stragglers()
	if werr := q.lastError(); !t.synced && werr != nil {
		detail += " (" + werr.Error() + ")"
	}
	return t.result(now), fmt.Errorf("wait for Packages and HelmReleases (timeout %s): %s: %w", opts.Timeout, detail, ctx.Err())
}
