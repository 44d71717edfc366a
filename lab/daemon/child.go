package daemon

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/cozylab/cozylab/internal/progress"
)

// File descriptors the parent passes to the daemon.
const (
	lifelineFD = 3
	eventsFD   = 4
)

// Event kinds of the daemon's outcome.
const (
	EventReady  = "ready"
	EventFailed = "failed"
)

const detachWord = "detach"

// Child is the daemon's side of the protocol.
type Child struct {
	// Progress reports steps to the parent until it detaches.
	Progress *progress.Wire
	events   io.WriteCloser
	detached atomic.Bool
}

// Attach connects to the parent. The returned context ends on SIGTERM or SIGINT, or when the
// lifeline closes before the parent detached. Outside a daemon start (no fd 3 and 4) it
// reports to stderr and only signals end the context, so the daemon can be run by hand.
func Attach(ctx context.Context) (context.Context, *Child, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	lifeline := os.NewFile(lifelineFD, "lifeline")
	events := os.NewFile(eventsFD, "events")
	if lifeline == nil || events == nil || !isPipe(lifeline) || !isPipe(events) {
		return ctx, &Child{Progress: progress.NewWire(os.Stderr), events: nopCloser{os.Stderr}}, stop
	}
	c := &Child{events: events}
	// After the detach nobody reads the event stream: later steps (the operator runner's)
	// go to the daemon's log instead.
	c.Progress = progress.NewWire(writerFunc(func(b []byte) (int, error) {
		if c.detached.Load() {
			return os.Stderr.Write(b)
		}
		return events.Write(b)
	}))
	ctx, cancel := context.WithCancel(ctx)
	go func() {
		sc := bufio.NewScanner(lifeline)
		for sc.Scan() {
			if strings.TrimSpace(sc.Text()) == detachWord {
				c.detached.Store(true)
			}
		}
		if !c.detached.Load() {
			cancel() // the parent is gone before the lab was up: tear it down
		}
		_ = lifeline.Close()
	}()
	return ctx, c, func() { cancel(); stop() }
}

// Ready tells the parent the lab is up; detail is shown to the user.
func (c *Child) Ready(detail string) { c.Progress.Send(progress.Event{Kind: EventReady, Text: detail}) }

// Failed tells the parent the lab could not come up.
func (c *Child) Failed(err error) {
	c.Progress.Send(progress.Event{Kind: EventFailed, Error: err.Error()})
}

// Close closes the event stream.
func (c *Child) Close() error { return c.events.Close() }

func isPipe(f *os.File) bool {
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeNamedPipe != 0
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(b []byte) (int, error) { return f(b) }

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }
