package kube

import (
	"sync"
	"time"
)

// deadline is one direction's deadline of a stream: a channel that is closed once the time set
// has passed. The channel stays the same while the deadline is moved before it passes, so a
// blocked Read sees a deadline set after it began; once passed, setting another deadline
// makes a new one.
type deadline struct {
	mu     sync.Mutex
	armed  bool
	timer  *time.Timer
	passCh chan struct{}
}

func newDeadline() deadline { return deadline{passCh: make(chan struct{})} }

// set moves the deadline to t; the zero time clears it.
func (d *deadline) set(t time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil && !d.timer.Stop() {
		<-d.passCh // the timer fired: its callback closes the channel
	}
	d.timer = nil
	if isClosed(d.passCh) {
		d.passCh = make(chan struct{})
	}
	d.armed = !t.IsZero()
	if !d.armed {
		return
	}
	if wait := time.Until(t); wait > 0 {
		ch := d.passCh
		d.timer = time.AfterFunc(wait, func() { close(ch) })
		return
	}
	close(d.passCh)
}

// wait returns a channel closed once the deadline has passed.
func (d *deadline) wait() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.passCh
}

// passed reports whether the deadline has passed.
func (d *deadline) passed() bool { return isClosed(d.wait()) }

// isSet reports whether a deadline is set.
func (d *deadline) isSet() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.armed
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}
