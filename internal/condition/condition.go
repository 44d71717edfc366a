// Package condition waits for named conditions ("kube-apiserver /readyz", "etcd has 3 members")
// that nothing can be watched for, by bounded polling. Kubernetes objects are waited for with
// watches elsewhere; this is for HTTP endpoints, sockets and gRPC APIs.
package condition

import (
	"context"
	"fmt"
	"time"

	"github.com/cozylab/cozylab/internal/progress"
)

// Condition is a named state the caller waits for.
type Condition struct {
	// Name says what is awaited, for progress lines and errors.
	Name string
	// Check reports whether the condition holds; detail says what it saw (shown while waiting
	// and in the timeout error); a non-nil error ends the wait at once (the thing waited for died).
	Check func(ctx context.Context) (ok bool, detail string, err error)
}

// Poll checks c every interval until it holds, Check fails, timeout passes or ctx ends. Each
// changed detail is reported on step.
func Poll(ctx context.Context, step progress.Step, c Condition, interval, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := ""
	for {
		ok, detail, err := c.Check(ctx)
		if err != nil {
			return fmt.Errorf("wait for %s: %w", c.Name, err)
		}
		if ok {
			return nil
		}
		if detail != last && detail != "" {
			step.Status("waiting for %s: %s", c.Name, detail)
			last = detail
		}
		select {
		case <-ctx.Done():
			if last == "" {
				return fmt.Errorf("wait for %s: %w", c.Name, ctx.Err())
			}
			return fmt.Errorf("wait for %s (last seen: %s): %w", c.Name, last, ctx.Err())
		case <-tick.C:
		}
	}
}
