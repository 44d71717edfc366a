package releasewait

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"

	"github.com/cozylab/cozylab/internal/progress"
)

func TestWaitRejectsABadSelector(t *testing.T) {
	_, err := Wait(t.Context(), &rest.Config{Host: "https://127.0.0.1:1"}, Options{LabelSelector: "a in (b"})
	require.ErrorContains(t, err, `parse label selector "a in (b" for HelmReleases`)
}

// chanStep passes every status line to the test as well as to a Recorder.
type chanStep struct {
	progress.Step
	ch chan string
}

func (s chanStep) Status(format string, args ...any) {
	s.Step.Status(format, args...)
	s.ch <- fmt.Sprintf(format, args...)
}

// TestLoopConfirmsDone drives the loop with a scripted confirming listing: the watches say done,
// the listing fails and is retried, then shows a release the watches had not delivered, which
// holds the wait until it is Ready and a listing matches what the watches show.
func TestLoopConfirmsDone(t *testing.T) {
	statuses := make(chan string, 100)
	opts := Options{FailAfter: time.Minute, Timeout: time.Minute,
		Step: chanStep{Step: (&progress.Recorder{}).Begin("platform"), ch: statuses}}
	tr, q := newTracker(opts, time.Now()), newQueue()
	synced := make(chan struct{})
	close(synced)
	platform := pkg("platform", t0, Ready, "ReconciliationSucceeded", "")
	a := obs("a", t0, Ready, "InstallSucceeded", "")
	late := obs("late", t0, Progressing, "NotReconciled", "no Ready condition yet")
	lateReady := withRV(obs("late", t0, Ready, "InstallSucceeded", ""), "2")
	q.set(refOf(platform), &platform)
	q.set(refOf(a), &a)

	listings := make(chan []Observation, 3)
	listings <- nil // the first listing fails
	listings <- []Observation{a, late}
	confirm := func(_ context.Context, now time.Time) (bool, error) {
		hrs := <-listings
		if hrs == nil {
			return false, errors.New("connection refused")
		}
		unchanged := tr.relist(PackageKind, []Observation{platform}, now)
		return tr.relist(HelmReleaseKind, hrs, now) && unchanged, nil
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	type outcome struct {
		res Result
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		res, err := loop(ctx, tr, q, synced, opts, confirm)
		done <- outcome{res, err}
	}()

	await := func(want string) {
		t.Helper()
		for {
			select {
			case s := <-statuses:
				if s == want {
					return
				}
			case o := <-done:
				t.Fatalf("loop ended (%+v) before showing %q", o, want)
			case <-ctx.Done():
				t.Fatalf("no status %q", want)
			}
		}
	}
	await("HelmReleases ready 1/1, Packages ready 1/1 — confirming: connection refused")
	await("HelmReleases ready 1/2, Packages ready 1/1 — waiting on ns/late: NotReconciled: no Ready condition yet")
	select {
	case o := <-done:
		t.Fatalf("loop ended on the watches' word alone: %+v", o)
	default:
	}
	listings <- []Observation{a, lateReady}
	q.set(refOf(lateReady), &lateReady)
	o := <-done
	require.NoError(t, o.err)
	assert.Len(t, o.res.Releases, 2)
}
