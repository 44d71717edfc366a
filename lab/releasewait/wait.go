package releasewait

import (
	"context"
	"fmt"
	"sync"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/cozylab/cozylab/internal/progress"
)

// Options says which HelmReleases to wait for and how patiently. Zero values take the defaults.
type Options struct {
	// Namespace limits the wait to one namespace; empty means all.
	Namespace string
	// LabelSelector limits the wait to matching releases, e.g. "cozystack.io/package=x".
	LabelSelector string
	// MinReleases is how many releases must exist before the wait can end (default 1): it
	// covers the start of an install, when the platform has not created any yet.
	MinReleases int
	// Settle is how long the set must not have grown when all are Ready (default 2s). It is
	// counted from the newest release's discovery (for releases already there when Wait
	// starts, from their creation), not from the last one turning Ready: releases are created
	// early and take minutes to install, so a finished install usually ends the wait at once,
	// while a chart that just emitted more Packages gets time for their HelmReleases to appear.
	// A predicate such as "every Package's HelmReleases" would be exact but needs the
	// operator's API; MinReleases plus Settle keeps this package generic.
	Settle time.Duration
	// FailAfter is how long one release may stay Failing (Ready=False with a failure reason,
	// across helm-controller's retries) before the wait fails naming it (default 5m). A
	// dependency wait never fails; Stalled=True fails at once.
	FailAfter time.Duration
	// Timeout bounds the whole wait (default 15m, upstream's `kubectl wait hr --all` budget).
	Timeout time.Duration
	// Step receives the live status line; nil shows nothing. The caller opens and ends it.
	Step progress.Step
}

func (o Options) withDefaults() Options {
	if o.MinReleases <= 0 {
		o.MinReleases = 1
	}
	if o.Settle <= 0 {
		o.Settle = 2 * time.Second
	}
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

// Result tells when each release turned Ready, for a timing table.
type Result struct {
	// Releases are the Ready releases in the order they turned Ready.
	Releases []Release
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

// helmReleases is the resource Wait watches.
var helmReleases = helmv2.GroupVersion.WithResource("helmreleases")

// Wait watches HelmReleases through cfg until every one seen is Ready for its current
// generation and the set has settled, a release fails for longer than FailAfter or stalls, or
// the timeout passes. It returns the timing of the Ready releases in every case. A missing
// HelmRelease CRD is not an error: the watch retries until it appears or the timeout passes.
func Wait(ctx context.Context, cfg *rest.Config, opts Options) (Result, error) {
	opts = opts.withDefaults()
	start := time.Now()
	if _, err := labels.Parse(opts.LabelSelector); err != nil {
		return Result{}, fmt.Errorf("parse label selector %q for HelmReleases: %w", opts.LabelSelector, err)
	}
	client, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return Result{}, fmt.Errorf("create client for HelmReleases: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, opts.Timeout)
	// The informer logs through the context's logger; a library stays quiet and reports watch
	// errors in the status line instead.
	ctx = logr.NewContext(ctx, logr.Discard())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()

	q := &queue{notify: make(chan struct{}, 1), pending: map[string]*helmv2.HelmRelease{}}
	informer := dynamicinformer.NewFilteredDynamicInformer(client, helmReleases, opts.Namespace, 0, cache.Indexers{},
		func(lo *metav1.ListOptions) { lo.LabelSelector = opts.LabelSelector }).Informer()
	if err := informer.SetWatchErrorHandler(func(_ *cache.Reflector, err error) { q.fail(err) }); err != nil {
		return Result{}, fmt.Errorf("watch HelmReleases: %w", err)
	}
	reg, err := informer.AddEventHandler(q.handler())
	if err != nil {
		return Result{}, fmt.Errorf("watch HelmReleases: %w", err)
	}
	synced := make(chan struct{})
	wg.Add(2)
	go func() { defer wg.Done(); informer.RunWithContext(ctx) }()
	go func() {
		defer wg.Done()
		if cache.WaitForCacheSync(ctx.Done(), reg.HasSynced) {
			close(synced)
		}
	}()
	return loop(ctx, newTracker(opts, start), q, synced, opts)
}

// loop feeds events and timer expiries to the tracker until it decides.
func loop(ctx context.Context, t *tracker, q *queue, synced <-chan struct{}, opts Options) (Result, error) {
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	defer timer.Stop()
	shown := ""
	for {
		select {
		case <-ctx.Done():
			now := time.Now()
			q.drain(t, now)
			detail := t.stragglers()
			if werr := q.lastError(); !t.synced && werr != nil {
				detail += " (" + werr.Error() + ")"
			}
			return t.result(now), fmt.Errorf("wait for HelmReleases (timeout %s): %s: %w", opts.Timeout, detail, ctx.Err())
		case <-synced:
			synced = nil
			q.drain(t, time.Now())
			t.markSynced(time.Now())
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
		if status != shown {
			opts.Step.Status("%s", status)
			shown = status
		}
		switch {
		case v.err != nil:
			return t.result(now), fmt.Errorf("wait for HelmReleases: %w", v.err)
		case v.done:
			return t.result(now), nil
		case v.recheck.IsZero():
			timer.Stop()
		default:
			timer.Reset(max(v.recheck.Sub(now), 0))
		}
	}
}
