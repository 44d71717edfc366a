package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
)

// Forwarder forwards connections to one port of a pod, each as a new stream pair over one kept
// connection to the pod (kubectl's transport: SPDY tunnelled through a WebSocket, plain SPDY
// when the upgrade fails). A stream's error ends only that stream; when the connection is lost,
// or the pod it reaches is deleted or stops running, the next Dial finds the pod again and
// reconnects.
type Forwarder struct {
	Config    *rest.Config
	Namespace string
	// Pod finds the pod to forward to (re-run on every (re)connect: a restarted pod may have a
	// new name/UID).
	Pod  func(ctx context.Context) (string, error)
	Port int
	// Log receives what the Forwarder does on its own (connects, retirements, failed
	// connections in Serve); optional, called from several goroutines at once.
	Log func(format string, args ...any)

	mu      sync.Mutex
	started bool
	closed  bool
	ctx     context.Context // ends with Close: bounds connecting and the pod watches
	cancel  context.CancelFunc
	pods    corev1client.PodsGetter
	cur     *tunnel              // the connection new streams go on; nil when there is none
	pending *attempt             // the connect in progress, shared by every Dial waiting for it
	tunnels map[*tunnel]struct{} // every open connection, those draining their last streams too

	requestID atomic.Uint64
}

// attempt is one connect, its outcome read once done is closed.
type attempt struct {
	done chan struct{}
	t    *tunnel
	err  error
}

// Dial opens a new stream pair (data + error, fresh requestID) to Port on the pod over the one
// kept connection, connecting or reconnecting first when there is none or it closed; a
// per-stream error closes only that net.Conn. The conn it returns half-closes with
// CloseWrite() error; it has no deadlines.
func (f *Forwarder) Dial(ctx context.Context) (net.Conn, error) {
	return f.dialPort(ctx, f.Port)
}

func (f *Forwarder) dialPort(ctx context.Context, port int) (*stream, error) {
	for retried := false; ; retried = true {
		t, err := f.current(ctx)
		if err != nil {
			return nil, fmt.Errorf("forward to port %d of a pod in %s: %w", port, f.Namespace, err)
		}
		s, err := t.open(port, f.requestID.Add(1))
		if err == nil {
			return s, nil
		}
		// The connection died (or stopped answering) under us: it takes no more streams, and
		// the next round connects anew, once.
		f.retire(t, err.Error())
		if retried {
			return nil, fmt.Errorf("forward to port %d of pod %s/%s: %w", port, t.ns, t.pod, err)
		}
	}
}

// current returns the live connection, connecting first when there is none. Concurrent Dials
// share one connect; each waits for it as long as its own ctx allows.
func (f *Forwarder) current(ctx context.Context) (*tunnel, error) {
	f.mu.Lock()
	if err := f.startLocked(); err != nil {
		f.mu.Unlock()
		return nil, err
	}
	if t := f.cur; t != nil {
		f.mu.Unlock()
		return t, nil
	}
	a := f.pending
	if a == nil {
		a = &attempt{done: make(chan struct{})}
		f.pending = a
		go f.connect(a)
	}
	f.mu.Unlock()
	select {
	case <-a.done:
		return a.t, a.err
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// startLocked readies the Forwarder on its first use.
func (f *Forwarder) startLocked() error {
	if f.closed {
		return net.ErrClosed
	}
	if f.started {
		return nil
	}
	if f.Config == nil || f.Pod == nil || f.Port <= 0 || f.Port > 65535 {
		return fmt.Errorf("forwarder needs a Config, a Pod finder and a Port in 1-65535 (got port %d)", f.Port)
	}
	client, err := corev1client.NewForConfig(f.Config)
	if err != nil {
		return fmt.Errorf("make a client for pods in %s: %w", f.Namespace, err)
	}
	f.pods = client
	f.ctx, f.cancel = context.WithCancel(context.Background())
	f.tunnels = map[*tunnel]struct{}{}
	f.started = true
	return nil
}

// connect runs attempt a and makes its tunnel the current one.
func (f *Forwarder) connect(a *attempt) {
	t, err := f.connectWithRetry()
	f.mu.Lock()
	if err == nil && f.closed {
		err = errors.Join(net.ErrClosed, t.conn.Close())
		t = nil
	}
	if err == nil {
		f.cur = t
		f.tunnels[t] = struct{}{}
		go f.track(t)
	}
	f.pending = nil
	a.t, a.err = t, err
	f.mu.Unlock()
	close(a.done)
}

// track retires t when its connection closes and forgets it; its pod watch ends with it.
func (f *Forwarder) track(t *tunnel) {
	go f.watchPod(t)
	<-t.conn.CloseChan()
	t.stop()
	f.retire(t, "connection closed")
	f.mu.Lock()
	delete(f.tunnels, t)
	f.mu.Unlock()
}

// retire stops new streams going on t; t closes once its last stream is done.
func (f *Forwarder) retire(t *tunnel, why string) {
	f.mu.Lock()
	was := f.cur == t
	if was {
		f.cur = nil
	}
	f.mu.Unlock()
	if was {
		f.logf("connection to pod %s/%s retired (%s); the next connection reconnects", t.ns, t.pod, why)
	}
	t.retire()
}

// Serve accepts on ln until ctx ends, piping each connection through Dial; a failed Dial closes
// only that client connection (and logs it). When ctx ends it closes ln and the connections
// in flight, and returns nil once they are done; an accept error that is not temporary ends
// it sooner, with that error.
func (f *Forwarder) Serve(ctx context.Context, ln net.Listener) error {
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			var ne interface{ Temporary() bool }
			if errors.As(err, &ne) && ne.Temporary() { // out of file descriptors: as net/http does
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				f.logf("accept on %s: %v; retrying in %s", ln.Addr(), err, backoff)
				select {
				case <-time.After(backoff):
				case <-ctx.Done():
				}
				continue
			}
			return fmt.Errorf("accept on %s: %w", ln.Addr(), err)
		}
		backoff = 0
		wg.Go(func() { f.pipe(ctx, c) })
	}
}

// pipe copies between a client connection and a new stream until the pod's side is done (or
// either side fails), then closes both.
func (f *Forwarder) pipe(ctx context.Context, c net.Conn) {
	defer c.Close()
	remote, err := f.dialPort(ctx, f.Port)
	if err != nil {
		f.logf("connection from %s: %v", c.RemoteAddr(), err)
		return
	}
	defer remote.Close()
	stop := context.AfterFunc(ctx, func() { c.Close(); remote.Close() })
	defer stop()
	up := make(chan struct{})
	go func() {
		defer close(up)
		_, err := io.Copy(remote, c)
		if err == nil {
			err = remote.CloseWrite()
		}
		if err != nil { // the client is gone: so is the point of the stream
			remote.Close()
		}
	}()
	_, err = io.Copy(c, remote)
	if err != nil && ctx.Err() == nil && !closedError(err) {
		f.logf("connection from %s: %v", c.RemoteAddr(), err)
	}
	// The pod's side is done: nothing more can arrive, and nothing sent would be read.
	c.Close()
	remote.Close()
	<-up
}

// closedError reports the noise of a connection closed on purpose.
func closedError(err error) bool {
	return errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "use of closed network connection") ||
		strings.Contains(err.Error(), "stream reset")
}

// Close closes every connection to the pod (and with them their streams). A Forwarder is not
// used after Close.
func (f *Forwarder) Close() error {
	f.mu.Lock()
	f.closed = true
	if f.cancel != nil {
		f.cancel()
	}
	tunnels := make([]*tunnel, 0, len(f.tunnels))
	for t := range f.tunnels {
		tunnels = append(tunnels, t)
	}
	f.cur = nil
	f.mu.Unlock()
	var errs []error
	for _, t := range tunnels {
		if err := t.conn.Close(); err != nil && !closedError(err) {
			errs = append(errs, fmt.Errorf("close connection to pod %s/%s: %w", t.ns, t.pod, err))
		}
	}
	return errors.Join(errs...)
}

func (f *Forwarder) logf(format string, args ...any) {
	if f.Log != nil {
		f.Log(format, args...)
	}
}
