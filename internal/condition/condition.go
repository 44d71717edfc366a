package condition

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

// Condition is a named state to wait for.
type Condition struct {
	// Name says what is awaited, for progress lines and errors: "etcd has 3 members".
	Name string
	// Check returns nil when the condition holds, or an error saying why it does not yet. An
	// error wrapped with Permanent ends the wait. Check must return when ctx ends: that is how
	// Poll.AttemptTimeout bounds a hung attempt.
	Check func(ctx context.Context) error
}

// Poll bounds a wait.
type Poll struct {
	// Interval is the time between the starts of two checks.
	Interval time.Duration
	// Timeout bounds the whole wait.
	Timeout time.Duration
	// AttemptTimeout, when set, bounds each check, so one hung call cannot eat the whole wait.
	AttemptTimeout time.Duration
}

// permanentError marks a check failure that no amount of waiting will fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent wraps err so Wait gives up at once instead of checking again. Permanent(nil) is nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}

	return &permanentError{err: err}
}

// timeoutError is the cause of a wait's end when Poll.Timeout passed; it is a
// context.DeadlineExceeded that says how long was waited.
type timeoutError struct{ after time.Duration }

func (e timeoutError) Error() string        { return fmt.Sprintf("gave up after %s", e.after) }
func (e timeoutError) Is(target error) bool { return target == context.DeadlineExceeded }

// Wait checks c every p.Interval until it holds, a check returns a Permanent error, ctx ends or
// p.Timeout passes. Each reason it does not hold yet goes to r (nil reports nothing). The error
// names the condition and wraps both why the wait ended (ctx.Err(), or a
// context.DeadlineExceeded on timeout) and the last reason.
func Wait(ctx context.Context, c Condition, p Poll, r Reporter) error {
	if p.Interval <= 0 || p.Timeout <= 0 {
		return fmt.Errorf("wait for %s: poll interval (%s) and timeout (%s) must be positive", c.Name, p.Interval, p.Timeout)
	}

	if r == nil {
		r = NopReporter{}
	}

	ctx, cancel := context.WithTimeoutCause(ctx, p.Timeout, timeoutError{after: p.Timeout})
	defer cancel()

	ticker := time.NewTicker(p.Interval)
	defer ticker.Stop()

	var last error

	for {
		err := attempt(ctx, c.Check, p.AttemptTimeout)
		if err == nil {
			r.Done(c.Name)

			return nil
		}

		if perm, ok := errors.AsType[*permanentError](err); ok {
			return fmt.Errorf("wait for %s: %w", c.Name, perm.err)
		}

		// An attempt the end of the wait cut short, or one a client's rate limiter refused
		// because its deadline was too near, says nothing new about the condition.
		if (ctx.Err() == nil && !refusedForDeadline(err)) || last == nil {
			last = err
			r.Waiting(c.Name, err)
		}

		select {
		case <-ctx.Done():
			return fmt.Errorf("wait for %s: %w; last reason: %w", c.Name, context.Cause(ctx), last)
		case <-ticker.C:
		}
	}
}

// WaitAll waits for each condition in order, stopping at the first that does not hold. Each
// condition gets the whole of p.
func WaitAll(ctx context.Context, cs []Condition, p Poll, r Reporter) error {
	for _, c := range cs {
		if err := Wait(ctx, c, p, r); err != nil {
			return err
		}
	}

	return nil
}

// refusedForDeadline tells an attempt that never reached its target because a rate limiter
// (golang.org/x/time/rate, which client-go uses) saw its deadline coming. The limiter's error has
// no type of its own, so its fixed text is what marks it.
func refusedForDeadline(err error) bool {
	return strings.Contains(err.Error(), "would exceed context deadline")
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
