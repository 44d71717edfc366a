package kube

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
)

// errorStreamWait bounds how long a stream's end waits for the pod's verdict on its error
// stream. The kubelet closes the error stream just before the data stream, so the wait ends
// at once unless the kubelet misbehaves.
const errorStreamWait = 5 * time.Second

// chunkSize is the most a stream reads from the connection ahead of its reader.
const chunkSize = 32 << 10

// stream is one forwarded connection: a data and an error stream with a request ID of their
// own on a tunnel. It behaves as a TCP connection: Read ends with io.EOF when the pod's side is
// done, or with the error the kubelet reported (a refused port) instead; CloseWrite
// half-closes; Close resets the stream and removes it from the connection; deadlines work as
// on a net.Conn, except that a write blocked past its deadline aborts the stream.
//
// A pump reads the data stream one chunk ahead of Read, so that Read can give up at a deadline
// (a spdystream read cannot be interrupted); it stops when Read does not take the chunk, which
// keeps the connection's backpressure as it was.
type stream struct {
	t          *tunnel
	data, errs httpstream.Stream
	remote     podAddr

	errDone   chan struct{} // closed when the error stream has been read to its end
	remoteErr error         // what the error stream said, once errDone is closed

	chunks  chan []byte // from the pump; closed when the data stream ended
	readErr error       // why it ended, once chunks is closed
	readMu  sync.Mutex  // one Read at a time: unread is its state
	unread  []byte

	readDeadline, writeDeadline deadline

	mu            sync.Mutex
	wrote, failed bool // data went to the pod; the pod's side reported an error
	closed        chan struct{}
	closeOnce     sync.Once
}

var _ net.Conn = (*stream)(nil)

// openStream creates the stream pair for port on t, error stream first (as kubectl does: the
// kubelet starts forwarding once both of a request ID are there).
func openStream(t *tunnel, port int, requestID uint64) (*stream, error) {
	h := http.Header{}
	h.Set(corev1.StreamType, corev1.StreamTypeError)
	h.Set(corev1.PortHeader, strconv.Itoa(port))
	h.Set(corev1.PortForwardRequestIDHeader, strconv.FormatUint(requestID, 10))
	errs, err := t.conn.CreateStream(h)
	if err != nil {
		return nil, fmt.Errorf("create error stream: %w", err)
	}
	if err := errs.Close(); err != nil { // nothing is written to it
		t.conn.RemoveStreams(errs)
		return nil, errors.Join(fmt.Errorf("half-close error stream: %w", err), errs.Reset())
	}
	h.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := t.conn.CreateStream(h)
	if err != nil {
		t.conn.RemoveStreams(errs)
		return nil, errors.Join(fmt.Errorf("create data stream: %w", err), errs.Reset())
	}
	s := &stream{t: t, data: data, errs: errs, remote: podAddr{ns: t.ns, pod: t.pod, port: port},
		errDone: make(chan struct{}), chunks: make(chan []byte), closed: make(chan struct{}),
		readDeadline: newDeadline(), writeDeadline: newDeadline()}
	go s.readErrors()
	go s.pump()
	return s, nil
}

// pump reads the data stream into chunks until it ends.
func (s *stream) pump() {
	defer close(s.chunks)
	for {
		buf := make([]byte, chunkSize)
		n, err := s.data.Read(buf)
		if n > 0 {
			select {
			case s.chunks <- buf[:n]:
			case <-s.closed:
				s.readErr = net.ErrClosed
				return
			}
		}
		if err == nil {
			continue
		}
		select {
		case <-s.closed:
			err = net.ErrClosed
		default:
			if errors.Is(err, io.EOF) {
				if v := s.verdict(); v != nil {
					err = v
				}
			}
		}
		s.readErr = err
		return
	}
}

func (s *stream) readErrors() {
	msg, err := io.ReadAll(s.errs)
	switch {
	case len(msg) > 0:
		s.remoteErr = fmt.Errorf("forward to %s: %s", s.remote, msg)
	case err != nil:
		s.remoteErr = fmt.Errorf("read error stream of %s: %w", s.remote, err)
	}
	close(s.errDone)
	if len(msg) == 0 {
		return
	}
	if why := sandboxGone(string(msg)); why != "" {
		s.t.f.retire(s.t, why)
		return
	}
	s.mu.Lock()
	s.failed = true
	poisoned := s.wrote
	s.mu.Unlock()
	if poisoned {
		s.t.f.retire(s.t, poisonedWhy)
	}
}

// poisonedWhy: data sent on a stream the pod's side failed (a refused port) can stall the
// connection. A kubelet or container runtime that vendors the Kubernetes streaming code from
// before kubernetes/kubernetes#128318 (containerd 1.6, as in Debian 12) never reads or resets
// such a stream, so the server's spdystream worker that owns it blocks on the data for good,
// and with it every later stream the server hands that worker (one in five). New streams then
// go on a new connection; the old one closes with its last stream.
const poisonedWhy = "data was sent on a stream the pod's side refused"

// sandboxGone says why an error stream's message means that the whole connection is stale:
// it reaches a sandbox that is gone (the pod's was recreated); "" otherwise. The messages are
// containerd's and CRI-O's, as client-go matches them since kubernetes/kubernetes#128319.
func sandboxGone(msg string) string {
	for _, m := range []string{"is closed", "is not running", "failed to find sandbox"} {
		if strings.Contains(msg, m) && strings.Contains(msg, "sandbox") {
			return "the pod's sandbox is gone"
		}
	}
	return ""
}

// verdict is the pod's error for this stream, once the error stream ended (nil for none).
func (s *stream) verdict() error {
	select {
	case <-s.errDone:
		return s.remoteErr
	case <-s.t.conn.CloseChan():
		return fmt.Errorf("forward to %s: lost the connection to the pod", s.remote)
	case <-time.After(errorStreamWait):
		return nil
	}
}

// Read implements net.Conn.
func (s *stream) Read(p []byte) (int, error) {
	s.readMu.Lock()
	defer s.readMu.Unlock()
	if len(s.unread) == 0 {
		if s.readDeadline.passed() {
			return 0, os.ErrDeadlineExceeded
		}
		select {
		case chunk, ok := <-s.chunks:
			if !ok {
				return 0, s.readErr
			}
			s.unread = chunk
		case <-s.readDeadline.wait():
			return 0, os.ErrDeadlineExceeded
		case <-s.closed:
			return 0, net.ErrClosed
		}
	}
	n := copy(p, s.unread)
	s.unread = s.unread[n:]
	return n, nil
}

// Write implements net.Conn.
func (s *stream) Write(p []byte) (int, error) {
	if s.writeDeadline.passed() {
		return 0, os.ErrDeadlineExceeded
	}
	var expired atomic.Bool
	if s.writeDeadline.isSet() { // a spdystream write cannot be interrupted but by a reset
		stop := make(chan struct{})
		defer close(stop)
		go func() {
			select {
			case <-s.writeDeadline.wait():
				expired.Store(true)
				s.data.Reset()
			case <-stop:
			}
		}()
	}
	n, err := s.data.Write(p)
	if n > 0 {
		s.mu.Lock()
		poisoned := !s.wrote && s.failed
		s.wrote = true
		s.mu.Unlock()
		if poisoned {
			s.t.f.retire(s.t, poisonedWhy)
		}
	}
	switch {
	case err == nil:
		return n, nil
	case expired.Load():
		return n, os.ErrDeadlineExceeded
	}
	select {
	case <-s.errDone:
		if s.remoteErr != nil {
			return n, s.remoteErr
		}
	default:
	}
	return n, err
}

// CloseWrite tells the pod's side that nothing more will be written.
func (s *stream) CloseWrite() error { return s.data.Close() }

// Close implements net.Conn: it resets both streams and removes them from the connection.
func (s *stream) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		err = errors.Join(s.data.Reset(), s.errs.Reset())
		s.t.conn.RemoveStreams(s.data, s.errs)
		s.t.release()
	})
	return err
}

// LocalAddr implements net.Conn.
func (s *stream) LocalAddr() net.Addr { return podAddr{} }

// RemoteAddr implements net.Conn: the pod and port forwarded to.
func (s *stream) RemoteAddr() net.Addr { return s.remote }

// SetDeadline implements net.Conn.
func (s *stream) SetDeadline(t time.Time) error {
	s.readDeadline.set(t)
	s.writeDeadline.set(t)
	return nil
}

// SetReadDeadline implements net.Conn.
func (s *stream) SetReadDeadline(t time.Time) error {
	s.readDeadline.set(t)
	return nil
}

// SetWriteDeadline implements net.Conn: a write still blocked when it passes resets the stream.
func (s *stream) SetWriteDeadline(t time.Time) error {
	s.writeDeadline.set(t)
	return nil
}

// podAddr names a forwarded port of a pod; the zero value is this end.
type podAddr struct {
	ns, pod string
	port    int
}

func (podAddr) Network() string { return "portforward" }

func (a podAddr) String() string {
	if a.pod == "" {
		return "local"
	}
	return fmt.Sprintf("pod %s/%s port %d", a.ns, a.pod, a.port)
}
