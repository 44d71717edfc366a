//go:build integration

package kube

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// The ports serverScript listens on, and one nothing listens on.
const (
	httpPort   = 8080
	echoPort   = 9000
	closedPort = 9999
)

// newForwarder forwards to port of the pod *name names (it may change); Close when the test ends.
func newForwarder(t *testing.T, cfg *rest.Config, name *atomic.Value, port int) (*Forwarder, *logLines) {
	logs := &logLines{t: t}
	t.Cleanup(logs.stop) // after f.Close below: its goroutines may still log
	f := &Forwarder{Config: cfg, Namespace: ns, Port: port, Log: logs.Logf,
		Pod: func(context.Context) (string, error) { return name.Load().(string), nil }}
	t.Cleanup(func() { assert.NoError(t, f.Close()) })
	return f, logs
}

func podName(s string) *atomic.Value {
	var v atomic.Value
	v.Store(s)
	return &v
}

// serve runs f.Serve on a new listener on 127.0.0.1 until the test ends, and returns the
// listener's address.
func serve(t *testing.T, f *Forwarder) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		assert.NoError(t, <-done)
	})
	return ln.Addr().String()
}

// get fetches /small through the listener at addr on a connection of its own.
func get(ctx context.Context, addr string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/small", nil)
	if err != nil {
		return "", err
	}
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("GET /small: %s: %s", resp.Status, body)
	}
	return string(body), nil
}

// waitServing waits until /small comes through addr: the pod's httpd starts after the pod runs.
func waitServing(t *testing.T, addr string) {
	t.Helper()
	var last error
	require.Eventually(t, func() bool {
		var body string
		body, last = get(t.Context(), addr)
		return last == nil && body == "hello\n"
	}, 2*time.Minute, 100*time.Millisecond, "GET /small through %s (last error: %v)", addr, &last)
}

// TestForwarderServe pipes 100 parallel connections through Serve to the pod's httpd; each gets
// the page, all over one connection to the pod.
func TestForwarderServe(t *testing.T) {
	cfg, cs := testLab(t)
	startPod(t, cs, "podio-serve", serverScript)
	f, _ := newForwarder(t, cfg, podName("podio-serve"), httpPort)
	addr := serve(t, f)
	waitServing(t, addr)
	before := current(f)
	require.NotNil(t, before)

	const n = 100
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			body, err := get(t.Context(), addr)
			if err == nil && body != "hello\n" {
				err = fmt.Errorf("body %q", body)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Log(err)
		}
	}
	assert.Zero(t, failed, "of %d parallel connections", n)
	assert.Same(t, before, current(f), "every connection went over the one connection to the pod")
}

// TestForwarderStreamErrorStaysOnItsStream opens streams to a port nothing listens on while a
// long echo transfer runs on another stream of the same connection: the refused streams error,
// the transfer goes on to its end, and the connection stays. A refused stream the client wrote
// to retires the connection instead (see poisonedWhy): the streams after it work all the same.
func TestForwarderStreamErrorStaysOnItsStream(t *testing.T) {
	cfg, cs := testLab(t)
	startPod(t, cs, "podio-refused", serverScript)
	f, logs := newForwarder(t, cfg, podName("podio-refused"), echoPort)
	ctx := t.Context()
	require.Eventually(t, func() bool { // nc starts after the pod runs
		c, err := f.Dial(ctx)
		if err != nil {
			return false
		}
		defer c.Close()
		return echo(c, []byte("ping\n")) == nil
	}, 2*time.Minute, 100*time.Millisecond, "the pod echoes on port %d", echoPort)

	t.Run("refused streams beside a long transfer", func(t *testing.T) {
		before := current(f)
		require.NotNil(t, before)
		long, err := f.Dial(ctx)
		require.NoError(t, err)
		defer long.Close()
		const chunk, chunks = 1 << 20, 16
		for i := range chunks {
			if i == chunks/2 { // mid-transfer: three refused streams, in parallel
				var wg sync.WaitGroup
				for range 3 {
					wg.Go(func() { assertRefused(t, f, nil) })
				}
				wg.Wait()
			}
			data := make([]byte, chunk)
			_, _ = rand.Read(data)
			require.NoError(t, echo(long, data), "chunk %d of the long transfer", i)
		}
		assert.Same(t, before, current(f), "the refused streams left the connection alone")
	})

	t.Run("a refused stream written to", func(t *testing.T) {
		before := current(f)
		require.NotNil(t, before)
		assertRefused(t, f, []byte("hello?\n"))
		require.Eventually(t, func() bool { return current(f) != before }, 10*time.Second, 10*time.Millisecond,
			"the connection is retired")
		assert.True(t, logs.Contains(poisonedWhy), "the log says why: %v", logs.Lines())
		for i := range 10 { // one in five would land on a stalled worker of the old connection
			c, err := f.Dial(ctx)
			require.NoError(t, err)
			require.NoError(t, echo(c, []byte("ping\n")), "stream %d after the refused one", i)
			require.NoError(t, c.Close())
		}
	})
}

// assertRefused dials closedPort on f's connection, writes data (if any): the stream's read
// ends with the kubelet's error, not with a plain end of stream.
func assertRefused(t *testing.T, f *Forwarder, data []byte) {
	s, err := f.dialPort(t.Context(), closedPort)
	if err != nil {
		return // refused at once: as good
	}
	defer s.Close()
	if data != nil {
		_, err = s.Write(data)
		require.NoError(t, err)
	}
	_, err = io.ReadAll(s)
	if assert.Error(t, err, "a stream to a closed port ends in an error") {
		assert.Contains(t, err.Error(), fmt.Sprint(closedPort))
	}
}

// echo writes data to c and reads it back, concurrently (the pod's cat answers as it reads).
func echo(c net.Conn, data []byte) error {
	written := make(chan error, 1)
	go func() {
		_, err := c.Write(data)
		written <- err
	}()
	back := make([]byte, len(data))
	_, err := io.ReadFull(c, back)
	if err := errors.Join(err, <-written); err != nil {
		return err
	}
	if !bytes.Equal(back, data) {
		return errors.New("echo differs from what was sent")
	}
	return nil
}

// TestForwarderStreamIsAConn: a stream half-closes (an HTTP/1.0 request, CloseWrite, the whole
// answer, then EOF) and keeps deadlines as a net.Conn does: a read deadline ends a blocked Read
// with a timeout and the stream goes on once it is cleared; a deadline set in the past aborts a
// blocked Read (how x/net/proxy's SOCKS client gives up when its context ends).
func TestForwarderStreamIsAConn(t *testing.T) {
	cfg, cs := testLab(t)
	startPod(t, cs, "podio-conn", serverScript)
	ctx := t.Context()
	f, _ := newForwarder(t, cfg, podName("podio-conn"), httpPort)
	addr := serve(t, f)
	waitServing(t, addr)

	t.Run("half-close", func(t *testing.T) {
		c, err := f.Dial(ctx)
		require.NoError(t, err)
		defer c.Close()
		_, err = io.WriteString(c, "GET /small HTTP/1.0\r\n\r\n")
		require.NoError(t, err)
		require.NoError(t, c.(interface{ CloseWrite() error }).CloseWrite())
		answer, err := io.ReadAll(c)
		require.NoError(t, err)
		assert.True(t, bytes.HasPrefix(answer, []byte("HTTP/1.")), "%q", answer)
		assert.True(t, bytes.HasSuffix(answer, []byte("\r\n\r\nhello\n")), "%q", answer)
	})

	e, _ := newForwarder(t, cfg, podName("podio-conn"), echoPort)
	t.Run("deadlines", func(t *testing.T) {
		c, err := e.Dial(ctx)
		require.NoError(t, err)
		defer c.Close()
		require.NoError(t, c.SetReadDeadline(time.Now().Add(50*time.Millisecond)))
		_, err = c.Read(make([]byte, 1))
		var ne net.Error
		require.ErrorAs(t, err, &ne)
		assert.True(t, ne.Timeout(), "%v", err)
		require.NoError(t, c.SetReadDeadline(time.Time{}))
		require.NoError(t, echo(c, []byte("still there\n")))

		read := make(chan error, 1)
		go func() {
			_, err := c.Read(make([]byte, 1))
			read <- err
		}()
		require.NoError(t, c.SetDeadline(time.Unix(1, 0)))
		select {
		case err := <-read:
			assert.ErrorIs(t, err, os.ErrDeadlineExceeded)
		case <-time.After(30 * time.Second):
			t.Fatal("a deadline in the past did not end the blocked Read")
		}
	})
}

// TestForwarderReconnects deletes the pod behind a running Serve: once the pod is back under the
// same name, and again when Pod names another pod, connections through the same listener work.
func TestForwarderReconnects(t *testing.T) {
	cfg, cs := testLab(t)
	startPod(t, cs, "podio-restart", serverScript)
	name := podName("podio-restart")
	f, logs := newForwarder(t, cfg, name, httpPort)
	addr := serve(t, f)
	waitServing(t, addr)
	first := current(f)
	require.NotNil(t, first)

	deletePod(t, cs, "podio-restart")
	require.Eventually(t, func() bool { return current(f) == nil }, time.Minute, 50*time.Millisecond,
		"the connection to the deleted pod is retired (the pod watch)")
	assert.True(t, logs.Contains("pod deleted") || logs.Contains("pod terminating"), "the log says why: %v", logs.Lines())
	startPod(t, cs, "podio-restart", serverScript)
	waitServing(t, addr)
	second := current(f)
	require.NotNil(t, second)
	assert.NotSame(t, first, second, "a new connection, to the new pod")

	startPod(t, cs, "podio-restart-2", serverScript)
	deletePod(t, cs, "podio-restart")
	name.Store("podio-restart-2")
	waitServing(t, addr)
	third := current(f)
	require.NotNil(t, third)
	assert.Equal(t, "podio-restart-2", third.pod)
}

// deletePod deletes pod name and waits until it is gone.
func deletePod(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	require.NoError(t, cs.CoreV1().Pods(ns).Delete(t.Context(), name, metav1.DeleteOptions{}))
	require.Eventually(t, func() bool {
		_, err := cs.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}, 2*time.Minute, 100*time.Millisecond, "pod %s/%s deleted", ns, name)
}

// current is f's connection for new streams (nil for none).
func current(f *Forwarder) *tunnel {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur
}

// BenchmarkForwarderConnect measures one connection through Serve: connect to the listener, a
// byte to the pod's echo and back, close.
func BenchmarkForwarderConnect(b *testing.B) {
	cfg, cs := testLab(b)
	startPod(b, cs, "podio-bench", serverScript)
	name := podName("podio-bench")
	f := &Forwarder{Config: cfg, Namespace: ns, Port: echoPort, Pod: func(context.Context) (string, error) { return name.Load().(string), nil }}
	defer f.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(b, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.Serve(ctx, ln) }()
	defer func() { cancel(); require.NoError(b, <-done) }()
	roundTrip := func() error {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			return err
		}
		defer c.Close()
		return echo(c, []byte{'x'})
	}
	require.Eventually(b, func() bool { return roundTrip() == nil }, 2*time.Minute, 100*time.Millisecond)
	b.ResetTimer()
	for b.Loop() {
		if err := roundTrip(); err != nil {
			b.Fatal(err)
		}
	}
}

// logLines collects a Forwarder's log and shows it in the test's.
type logLines struct {
	t       *testing.T
	mu      sync.Mutex
	lines   []string
	stopped bool
}

func (l *logLines) Logf(format string, args ...any) {
	line := fmt.Sprintf(format, args...)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, line)
	if !l.stopped {
		l.t.Log("forwarder: " + line)
	}
}

// stop ends the showing: a test's log is closed once it ends.
func (l *logLines) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}

func (l *logLines) Lines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.lines...)
}

func (l *logLines) Contains(s string) bool {
	for _, line := range l.Lines() {
		if bytes.Contains([]byte(line), []byte(s)) {
			return true
		}
	}
	return false
}
