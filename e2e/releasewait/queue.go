package releasewait

import (
	"fmt"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/tools/cache"
)

// queue hands informer events to the wait loop: the latest observation per object (nil when
// deleted) and a wake-up, so a burst of updates costs the loop one evaluation.
type queue struct {
	mu      sync.Mutex
	pending map[ref]*Observation
	err     error
	notify  chan struct{}
}

func newQueue() *queue {
	return &queue{notify: make(chan struct{}, 1), pending: map[ref]*Observation{}}
}

// handler feeds one informer's events, decoded by s, to the queue.
func (q *queue) handler(s source) cache.ResourceEventHandler {
	put := func(obj any) {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			q.fail(fmt.Errorf("decode %s: unexpected %T", s.kind, obj))
			return
		}
		o, err := s.decode(u)
		if err != nil {
			q.fail(err)
			return
		}
		q.set(refOf(o), &o)
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    put,
		UpdateFunc: func(_, obj any) { put(obj) },
		DeleteFunc: func(obj any) {
			key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj)
			if err != nil {
				q.fail(fmt.Errorf("key deleted %s: %w", s.kind, err))
				return
			}
			q.set(ref{kind: s.kind, key: key}, nil)
		},
	}
}

func (q *queue) set(r ref, o *Observation) {
	q.mu.Lock()
	q.pending[r] = o
	q.mu.Unlock()
	q.wake()
}

// fail records a watch or decode error; it is shown while the objects are not yet listed.
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
	q.pending = map[ref]*Observation{}
	q.mu.Unlock()
	for r, o := range pending {
		if o == nil {
			t.remove(r, now)
			continue
		}
		t.observe(*o, now)
	}
}
