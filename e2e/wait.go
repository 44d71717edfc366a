package e2e

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/watch"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/kubewatch"
	"github.com/cozylab/cozylab/internal/progress"
)

// waitFor watches the object key (of list's kind) until check, given the object's latest
// version copied into into, holds; it shows check's detail as the step's status and ends with
// that detail when the timeout passes.
func waitFor(ctx context.Context, c client.WithWatch, step progress.Step, what string, list client.ObjectList,
	key client.ObjectKey, into client.Object, timeout time.Duration, check func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts := []client.ListOption{client.MatchingFields{"metadata.name": key.Name}}
	if key.Namespace != "" {
		opts = append(opts, client.InNamespace(key.Namespace))
	}
	last := "not created yet"
	step.Status("waiting for %s: %s", what, last)
	err := kubewatch.Until(ctx, c, list, func(ev watch.Event) (bool, error) {
		if ev.Type == watch.Deleted {
			last = "deleted"
			return false, nil
		}
		if err := c.Scheme().Convert(ev.Object, into, nil); err != nil {
			return false, fmt.Errorf("read %s: %w", what, err)
		}
		ok, detail := check()
		if detail != "" && detail != last {
			last = detail
			step.Status("waiting for %s: %s", what, detail)
		}
		return ok, nil
	}, opts...)
	if errors.Is(err, watchtools.ErrWatchClosed) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s not reached within %s (last seen: %s)", what, timeout, last)
	}
	if err != nil {
		return fmt.Errorf("wait for %s (last seen: %s): %w", what, last, err)
	}
	return nil
}
