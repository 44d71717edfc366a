package kube

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
)

// errorStreamWait bounds how long a stream's end waits for the pod's verdict on its error
// stream. The kubelet closes the error stream just before the data stream, so the wait ends
// at once unless the kubelet misbehaves.
const errorStreamWait = 5 * time.Second

// stream is one forwarded connection: a data and an error stream with a request ID of their
// own on a tunnel. It behaves as a TCP connection for io.Copy: Read ends with io.EOF when the
// pod's side is done, or with the error the kubelet reported (a refused port) instead;
// CloseWrite half-closes; Close resets the stream and removes it from the connection.
type stream struct {
	t          *tunnel
	data, errs httpstream.Stream
	remote     podAddr

	errDone   chan struct{} // closed when the error stream has been read to its end
	remoteErr error         // what the error stream said, once errDone is closed

	closeOnce sync.Once
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
	s := &stream{t: t, data: data, errs: errs, errDone: make(chan struct{}),
		remote: podAddr{ns: t.ns, pod: t.pod, port: port}}
	go s.readErrors()
	return s, nil
}

func (s *stream) readErrors() {
	defer close(s.errDone)
	msg, err := io.ReadAll(s.errs)
	switch {
	case len(msg) > 0:
		s.remoteErr = fmt.Errorf("forward to %s: %s", s.remote, msg)
	case err != nil:
		s.remoteErr = fmt.Errorf("read error stream of %s: %w", s.remote, err)
	}
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
	n, err := s.data.Read(p)
	if errors.Is(err, io.EOF) {
		if v := s.verdict(); v != nil {
			return n, v
		}
	}
	return n, err
}

// Write implements net.Conn.
func (s *stream) Write(p []byte) (int, error) {
	n, err := s.data.Write(p)
	if err != nil {
		select {
		case <-s.errDone:
			if s.remoteErr != nil {
				return n, s.remoteErr
			}
		default:
		}
	}
	return n, err
}

// CloseWrite tells the pod's side that nothing more will be written.
func (s *stream) CloseWrite() error { return s.data.Close() }

// Close implements net.Conn: it resets both streams and removes them from the connection.
func (s *stream) Close() error {
	var err error
	s.closeOnce.Do(func() {
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

// errNoDeadlines: the streams of a port-forward connection have no deadlines.
var errNoDeadlines = fmt.Errorf("deadlines on a port-forward stream: %w", errors.ErrUnsupported)

// SetDeadline implements net.Conn: not supported.
func (s *stream) SetDeadline(time.Time) error { return errNoDeadlines }

// SetReadDeadline implements net.Conn: not supported.
func (s *stream) SetReadDeadline(time.Time) error { return errNoDeadlines }

// SetWriteDeadline implements net.Conn: not supported.
func (s *stream) SetWriteDeadline(time.Time) error { return errNoDeadlines }

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
