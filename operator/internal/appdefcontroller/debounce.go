package appdefcontroller

import (
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// debouncer remembers when ApplicationDefinitions last changed. Reconcile asks it how long
// the set must stay quiet before cozystack-api may be restarted, and waits with RequeueAfter,
// so there is no timer or goroutine of its own. seq counts changes; tests use it to tell an
// evaluation that saw a change from one that ran before it.
type debouncer struct {
	clock  clock.PassiveClock
	window time.Duration

	mu   sync.Mutex
	last time.Time
	seq  uint64
}

// record notes a change now.
func (d *debouncer) record() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.last = d.clock.Now()
	d.seq++
}

// remaining returns the changes seen so far and how long to wait before acting on them; zero
// when the window has passed since the last change, or when nothing changed yet.
func (d *debouncer) remaining() (seq uint64, wait time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.seq == 0 {
		return 0, 0
	}
	return d.seq, max(0, d.window-d.clock.Since(d.last))
}

// changes returns how many changes were recorded.
func (d *debouncer) changes() uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.seq
}
