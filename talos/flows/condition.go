package flows

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Condition is something to wait for, named for the person watching progress.
type Condition struct {
	// Name says what is awaited: "etcd has 3 members".
	Name string
	// Check returns nil when the condition holds, or why it does not yet.
	Check func(ctx context.Context) error
}

// Reporter hears about waits; the edge turns it into progress lines. Library code never prints.
type Reporter interface {
	// Waiting is called after each failed check with the reason it failed.
	Waiting(condition string, reason error)
	// Done is called once the condition holds.
	Done(condition string)
}

// Poll bounds a wait.
type Poll struct {
	// Interval is the pause between checks.
	Interval time.Duration
	// Timeout bounds the whole wait.
	Timeout time.Duration
	// AttemptTimeout bounds each check, so one hung call cannot eat the whole wait.
	AttemptTimeout time.Duration
}

// DefaultPoll suits a node booting in a VM: check twice a second for up to ten minutes, as
// talosctl's bootstrap wait does.
var DefaultPoll = Poll{Interval: 500 * time.Millisecond, Timeout: 10 * time.Minute, AttemptTimeout: 2 * time.Second}

// NopReporter discards progress.
type NopReporter struct{}

// Waiting implements Reporter.
func (NopReporter) Waiting(string, error) {}

// Done implements Reporter.
func (NopReporter) Done(string) {}

// permanentError marks a check failure that no amount of waiting will fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so Wait gives up at once instead of checking again.
func Permanent(err error) error { return &permanentError{err: err} }

// Wait checks c until it holds, ctx ends, or p.Timeout passes. The error names the condition
// and carries the last reason it did not hold. A check returning a Permanent error ends the
// wait at once.
func Wait(ctx context.Context, c Condition, p Poll, r Reporter) error {
	if r == nil {
		r = NopReporter{}
	}

	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()

	ticker := time.NewTicker(p.Interval)
	defer ticker.Stop()

	for {
		err := attempt(ctx, c.Check, p.AttemptTimeout)
		if err == nil {
			r.Done(c.Name)

			return nil
		}

		if perm, ok := errors.AsType[*permanentError](err); ok {
			return fmt.Errorf("wait for %s: %w", c.Name, perm.err)
		}

		r.Waiting(c.Name, err)

		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w", c.Name, errors.Join(ctx.Err(), err))
		case <-ticker.C:
		}
	}
}

// WaitAll waits for each condition in order, stopping at the first that does not hold.
func WaitAll(ctx context.Context, cs []Condition, p Poll, r Reporter) error {
	for _, c := range cs {
		if err := Wait(ctx, c, p, r); err != nil {
			return err
		}
	}

	return nil
}

// attempt runs check once, bounded by timeout when it is set.
func attempt(ctx context.Context, check func(context.Context) error, timeout time.Duration) error {
	if timeout > 0 {
		var cancel context.CancelFunc

		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}

	return check(ctx)
}
