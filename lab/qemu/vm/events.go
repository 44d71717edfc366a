package vm

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/digitalocean/go-qemu/qmp"
)

// SHUTDOWN event reasons (QEMU's ShutdownCause) the supervisor acts on.
const (
	reasonGuestReset    = "guest-reset"           // the guest rebooted; -no-reboot turned it into an exit
	reasonHostReset     = "host-qmp-system-reset" // Monitor.Reset: a power cycle asked for over QMP
	reasonGuestShutdown = "guest-shutdown"        // the guest powered itself off
)

// eventWatch holds one QEMU run's event socket open and remembers the last SHUTDOWN reason.
// QEMU emits SHUTDOWN before it exits and closes the socket after, so once the event stream has
// ended the reason is final.
type eventWatch struct {
	ended chan struct{}

	mu     sync.Mutex
	reason string
}

// watchEvents connects to the event socket within timeout and starts draining it (go-qemu sends
// events down an unbuffered channel from the reader that also carries replies: it must be
// drained).
func watchEvents(socket string, timeout time.Duration) (*eventWatch, error) {
	type connected struct {
		mon *qmp.SocketMonitor
		ch  <-chan qmp.Event
		err error
	}
	ready := make(chan connected, 1)
	go func() {
		mon, err := qmp.NewSocketMonitor("unix", socket, timeout)
		if err != nil {
			ready <- connected{err: err}
			return
		}
		if err := mon.Connect(); err != nil {
			ready <- connected{err: err}
			return
		}
		ch, err := mon.Events(context.Background())
		ready <- connected{mon: mon, ch: ch, err: err}
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	var c connected
	select {
	case c = <-ready:
	case <-t.C:
		// The connecting goroutine ends when QEMU is killed and the socket closes.
		return nil, fmt.Errorf("connect to QMP event socket %s: no greeting within %s", socket, timeout)
	}
	if c.err != nil {
		return nil, fmt.Errorf("connect to QMP event socket %s: %w", socket, c.err)
	}
	w := &eventWatch{ended: make(chan struct{})}
	go func() {
		defer close(w.ended)
		for ev := range c.ch {
			if ev.Event != "SHUTDOWN" {
				continue
			}
			reason, _ := ev.Data["reason"].(string)
			w.mu.Lock()
			w.reason = reason
			w.mu.Unlock()
		}
		_ = c.mon.Disconnect() // the stream has ended: QEMU closed its side, nothing to report
	}()
	return w, nil
}

// finalReason waits up to timeout for the event stream to end and returns the last SHUTDOWN
// reason, "" when QEMU sent none (it crashed or was killed).
func (w *eventWatch) finalReason(timeout time.Duration) string {
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-w.ended:
	case <-t.C:
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.reason
}
