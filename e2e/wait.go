package e2e

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/progress"
)

// waitFor watches the object key (of list's kind) until check, given the object's latest
// version copied into into, holds; it shows check's detail as the step's status and ends with
// that detail when the timeout passes.
func waitFor(ctx context.Context, c client.WithWatch, step progress.Step, what string, list client.ObjectList,
	key client.ObjectKey, into client.Object, timeout time.Duration, check func() (bool, string)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	opts := func(o metav1.ListOptions) []client.ListOption {
		o.FieldSelector = fields.OneTermEqualSelector("metadata.name", key.Name).String()
		out := []client.ListOption{&client.ListOptions{Raw: &o}}
		if key.Namespace != "" {
			out = append(out, client.InNamespace(key.Namespace))
		}
		return out
	}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l := list.DeepCopyObject().(client.ObjectList)
			return l, c.List(ctx, l, opts(o)...)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return c.Watch(ctx, list.DeepCopyObject().(client.ObjectList), opts(o)...)
		},
	}
	last := "not created yet"
	step.Status("waiting for %s: %s", what, last)
	_, err := watchtools.UntilWithSync(ctx, lw, into.DeepCopyObject(), nil, func(ev watch.Event) (bool, error) {
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
	})
	if errors.Is(err, watchtools.ErrWatchClosed) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s not reached within %s (last seen: %s)", what, timeout, last)
	}
	if err != nil {
		return fmt.Errorf("wait for %s (last seen: %s): %w", what, last, err)
	}
	return nil
}

// clientListOptions passes raw list options (resource version, timeouts) to a watch.
type clientListOptions struct{ raw metav1.ListOptions }

func (o *clientListOptions) ApplyToList(lo *client.ListOptions) {
	raw := o.raw
	lo.Raw = &raw
}
