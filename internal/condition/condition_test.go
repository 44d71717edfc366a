package condition_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
)

// generous bounds a wait that should end long before it: the bound only matters when a test
// fails, and a loaded machine must not make a passing test fail.
var generous = condition.Poll{Interval: time.Millisecond, Timeout: time.Minute, AttemptTimeout: 30 * time.Second}

// recorder is a Reporter that remembers what it heard, in order.
type recorder struct {
	mu      sync.Mutex
	waiting []string
	done    []string
	onWait  func()
}

func (r *recorder) Waiting(c string, reason error) {
	r.mu.Lock()
	r.waiting = append(r.waiting, c+": "+reason.Error())
	onWait := r.onWait
	r.mu.Unlock()

	if onWait != nil {
		onWait()
	}
}

func (r *recorder) Done(c string) {
	r.mu.Lock()
	defer r.mu.Unlock()

	r.done = append(r.done, c)
}

var errGone = errors.New("etcd exited")

// failing returns a check that fails with "attempt <n>" until it has been called n times,
// then returns last (nil: the condition holds).
func failing(calls *int, n int, last error) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		if *calls <= n {
			return fmt.Errorf("attempt %d", *calls)
		}

		return last
	}
}

func TestWait(t *testing.T) {
	for _, tc := range []struct {
		name        string
		check       func(calls *int) func(context.Context) error
		poll        condition.Poll
		wantCalls   int
		wantWaiting []string
		wantDone    bool
		wantErr     string // the whole message, when not empty
		wantIs      []error
	}{
		{
			name:      "holds at once",
			check:     func(calls *int) func(context.Context) error { return failing(calls, 0, nil) },
			poll:      generous,
			wantCalls: 1,
			wantDone:  true,
		},
		{
			name:        "holds after three attempts",
			check:       func(calls *int) func(context.Context) error { return failing(calls, 3, nil) },
			poll:        generous,
			wantCalls:   4,
			wantWaiting: []string{"apiserver: attempt 1", "apiserver: attempt 2", "apiserver: attempt 3"},
			wantDone:    true,
		},
		{
			name: "permanent ends at once",
			check: func(calls *int) func(context.Context) error {
				return failing(calls, 0, condition.Permanent(errGone))
			},
			poll:      generous,
			wantCalls: 1,
			wantErr:   "wait for apiserver: etcd exited",
			wantIs:    []error{errGone},
		},
		{
			name: "permanent after transient reasons",
			check: func(calls *int) func(context.Context) error {
				return failing(calls, 2, condition.Permanent(errGone))
			},
			poll:        generous,
			wantCalls:   3,
			wantWaiting: []string{"apiserver: attempt 1", "apiserver: attempt 2"},
			wantErr:     "wait for apiserver: etcd exited",
			wantIs:      []error{errGone},
		},
		{
			name: "a bad poll is refused before any check",
			check: func(calls *int) func(context.Context) error {
				return failing(calls, 0, nil)
			},
			poll:    condition.Poll{Timeout: time.Minute},
			wantErr: "wait for apiserver: poll interval (0s) and timeout (1m0s) must be positive",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			calls := 0
			rec := &recorder{}

			err := condition.Wait(t.Context(), condition.Condition{Name: "apiserver", Check: tc.check(&calls)}, tc.poll, rec)

			if tc.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.EqualError(t, err, tc.wantErr)
			}

			for _, target := range tc.wantIs {
				assert.ErrorIs(t, err, target)
			}

			assert.Equal(t, tc.wantCalls, calls)
			assert.Equal(t, tc.wantWaiting, rec.waiting)

			if tc.wantDone {
				assert.Equal(t, []string{"apiserver"}, rec.done)
			} else {
				assert.Empty(t, rec.done)
			}
		})
	}
}

// TestWaitEnds covers the ends that are not the check's doing: the timeout and ctx.
func TestWaitEnds(t *testing.T) {
	notYet := errors.New("HTTP 500 etcd")

	for _, tc := range []struct {
		name    string
		poll    condition.Poll
		cancel  bool // cancel ctx after the first reason is reported
		wantIs  error
		wantMsg string
	}{
		{
			name:    "timeout names the condition and the last reason",
			poll:    condition.Poll{Interval: time.Millisecond, Timeout: 50 * time.Millisecond},
			wantIs:  context.DeadlineExceeded,
			wantMsg: "wait for kube-apiserver /readyz: gave up after 50ms; last reason: HTTP 500 etcd",
		},
		{
			name:    "ctx cancel ends the wait",
			poll:    condition.Poll{Interval: time.Millisecond, Timeout: time.Hour},
			cancel:  true,
			wantIs:  context.Canceled,
			wantMsg: "wait for kube-apiserver /readyz: context canceled; last reason: HTTP 500 etcd",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()

			rec := &recorder{}
			if tc.cancel {
				rec.onWait = cancel
			}

			err := condition.Wait(ctx, condition.Condition{
				Name:  "kube-apiserver /readyz",
				Check: func(context.Context) error { return notYet },
			}, tc.poll, rec)

			require.EqualError(t, err, tc.wantMsg)
			assert.ErrorIs(t, err, tc.wantIs)
			assert.ErrorIs(t, err, notYet, "the last reason is wrapped")
			assert.NotEmpty(t, rec.waiting)
			assert.Empty(t, rec.done)
		})
	}
}

func TestWaitAttemptTimeoutBoundsHungCheck(t *testing.T) {
	calls := 0
	rec := &recorder{}
	poll := condition.Poll{Interval: time.Millisecond, Timeout: time.Hour, AttemptTimeout: 10 * time.Millisecond}

	err := condition.Wait(t.Context(), condition.Condition{
		Name: "Talos API on cp-1 answers",
		Check: func(ctx context.Context) error {
			calls++
			if calls == 1 {
				<-ctx.Done() // hangs until the attempt's bound, however long that takes

				return ctx.Err()
			}

			return nil
		},
	}, poll, rec)

	require.NoError(t, err)
	assert.Equal(t, 2, calls)
	assert.Equal(t, []string{"Talos API on cp-1 answers: context deadline exceeded"}, rec.waiting)
}

func TestWaitAllStopsAtFirstFailure(t *testing.T) {
	var checked []string

	cond := func(name string, err error) condition.Condition {
		return condition.Condition{Name: name, Check: func(context.Context) error {
			checked = append(checked, name)

			return err
		}}
	}

	rec := &recorder{}
	err := condition.WaitAll(t.Context(), []condition.Condition{
		cond("first", nil),
		cond("second", condition.Permanent(errGone)),
		cond("third", nil),
	}, generous, rec)

	require.EqualError(t, err, "wait for second: etcd exited")
	assert.Equal(t, []string{"first", "second"}, checked)
	assert.Equal(t, []string{"first"}, rec.done)
}

func TestStepReporterShowsChangedReasons(t *testing.T) {
	rec := &progress.Recorder{}
	r := condition.StepReporter(rec.Begin("wait"))

	for _, reason := range []string{"not yet", "not yet", "almost", "almost"} {
		r.Waiting("three calls", errors.New(reason))
	}

	r.Done("three calls")
	r.Waiting("three calls", errors.New("almost")) // a new wait shows its reasons afresh

	assert.Equal(t, []string{
		"waiting for three calls: not yet",
		"waiting for three calls: almost",
		"waiting for three calls: almost",
	}, rec.Statuses("wait"))
}

func TestPermanentNil(t *testing.T) {
	assert.NoError(t, condition.Permanent(nil))
}

// A client's rate limiter that refuses an attempt because its deadline is too near (client-go
// says "client rate limiter Wait returned an error: rate: Wait(n=1) would exceed context
// deadline") did not ask the target anything: the wait keeps the target's own last reason.
func TestWaitKeepsTheReasonOverARateLimitersRefusal(t *testing.T) {
	limiter := rate.NewLimiter(rate.Every(time.Hour), 1) // one token, then none within any attempt
	rec := &recorder{}
	poll := condition.Poll{Interval: time.Millisecond, Timeout: 100 * time.Millisecond, AttemptTimeout: 10 * time.Millisecond}
	attempts := 0

	err := condition.Wait(t.Context(), condition.Condition{
		Name: "Deployment kube-system/coredns Available",
		Check: func(ctx context.Context) error {
			attempts++
			if err := limiter.Wait(ctx); err != nil {
				return fmt.Errorf("client rate limiter Wait returned an error: %w", err)
			}

			return errors.New("no pod yet")
		},
	}, poll, rec)

	require.Error(t, err)
	assert.Contains(t, err.Error(), "last reason: no pod yet")
	assert.Greater(t, attempts, 1, "attempts after the first were refused by the limiter")
	assert.Equal(t, []string{"Deployment kube-system/coredns Available: no pod yet"}, rec.waiting, "a refusal is not reported as a reason")
}
