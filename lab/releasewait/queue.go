package releasewait

import (
	"fmt"
	"sync"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/tools/cache"
)

// queue hands informer events to the wait loop: the latest object per release (nil when
// deleted) and a wake-up, so a burst of updates costs the loop one evaluation.
type queue struct {
	mu      sync.Mutex
	pending map[string]*helmv2.HelmRelease
	err     error
	notify  chan struct{}
}

func (q *queue) handler() cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    q.put,
		UpdateFunc: func(_, obj any) { q.put(obj) },
		DeleteFunc: func(obj any) {
			key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
			if err != nil {
				q.fail(fmt.Errorf("key deleted HelmRelease: %w", err))
				return
			}
			q.set(key, nil)
		},
	}
}

func (q *queue) put(obj any) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		q.fail(fmt.Errorf("decode HelmRelease: unexpected %T", obj))
		return
	}
	hr := &helmv2.HelmRelease{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, hr); err != nil {
		q.fail(fmt.Errorf("decode HelmRelease %s/%s: %w", u.GetNamespace(), u.GetName(), err))
		return
	}
	q.set(hr.Namespace+"/"+hr.Name, hr)
}

func (q *queue) set(key string, hr *helmv2.HelmRelease) {
	q.mu.Lock()
	q.pending[key] = hr
	q.mu.Unlock()
	q.wake()
}

// fail records a watch or decode error; it is shown while the releases are not yet listed.
func (q *queue) fail(err error) {
	q.mu.Lock()
	q.err = err
	q.mu.Unlock()
	q.wake()
}

func (q *queue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

func (q *queue) lastError() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// drain feeds every pending event to t.
func (q *queue) drain(t *tracker, now time.Time) {
	q.mu.Lock()
	pending := q.pending
	q.pending = map[string]*helmv2.HelmRelease{}
	q.mu.Unlock()
	for key, hr := range pending {
		if hr == nil {
			t.remove(key)
			continue
		}
		t.observe(Classify(hr), now)
	}
}
