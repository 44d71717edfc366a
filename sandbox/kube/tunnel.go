package kube

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"
)

// connectBound bounds one connect, the wait for the pod to run included.
const connectBound = 2 * time.Minute

// connectBackoff paces the retries of a connect while the pod is not found or not running:
// quick at first (a pod that is just starting), then every second.
var connectBackoff = wait.Backoff{Duration: 100 * time.Millisecond, Factor: 1.6, Jitter: 0.2, Steps: 1 << 30, Cap: time.Second}

// tunnel is one connection to a pod, with the streams on it counted: once retired it takes no
// new stream and closes when its last one is done.
type tunnel struct {
	f          *Forwarder
	conn       httpstream.Connection
	ns, pod    string
	uid        types.UID
	podVersion string // the pod's resourceVersion when connected: its watch starts there
	ctx        context.Context
	stop       context.CancelFunc
	mu         sync.Mutex
	streams    int
	retired    bool
}

// errRetired: the tunnel was retired between the Dial that picked it and its stream.
var errRetired = errors.New("connection retired")

// open creates a stream pair on t for port.
func (t *tunnel) open(port int, requestID uint64) (*stream, error) {
	t.mu.Lock()
	if t.retired {
		t.mu.Unlock()
		return nil, errRetired
	}
	t.streams++
	t.mu.Unlock()
	s, err := openStream(t, port, requestID)
	if err != nil {
		t.release()
		return nil, err
	}
	return s, nil
}

// release counts a stream done.
func (t *tunnel) release() {
	t.mu.Lock()
	t.streams--
	last := t.retired && t.streams == 0
	t.mu.Unlock()
	if last {
		t.conn.Close()
	}
}

// retire takes t out of use; it closes now if no stream is on it.
func (t *tunnel) retire() {
	t.mu.Lock()
	first := !t.retired
	t.retired = true
	idle := t.streams == 0
	t.mu.Unlock()
	if first && idle {
		t.conn.Close()
	}
}

// connectWithRetry finds the pod and connects to it, retrying while the pod is not found or
// not running, until connectBound or Close.
func (f *Forwarder) connectWithRetry() (*tunnel, error) {
	ctx, cancel := context.WithTimeout(f.ctx, connectBound)
	defer cancel()
	var last error
	b := connectBackoff
	for {
		t, err := f.connectOnce(ctx)
		if err == nil {
			return t, nil
		}
		if last == nil || err.Error() != last.Error() {
			f.logf("connecting to port %d of a pod in %s: %v", f.Port, f.Namespace, err)
		}
		last = err
		if ctx.Err() != nil || !retryable(err) {
			return nil, err
		}
		select {
		case <-time.After(b.Step()):
		case <-ctx.Done():
			return nil, fmt.Errorf("%w (gave up after %s)", last, connectBound)
		}
	}
}

// retryable tells a pod on its way (not found yet, not running yet, or the kubelet not ready
// for it) from a request that can never work (no permission, a bad name).
func retryable(err error) bool {
	return !apierrors.IsForbidden(err) && !apierrors.IsUnauthorized(err) && !apierrors.IsInvalid(err)
}

// errNotRunning is a pod found but not running.
var errNotRunning = errors.New("not running")

func (f *Forwarder) connectOnce(ctx context.Context) (*tunnel, error) {
	name, err := f.Pod(ctx)
	if err != nil {
		return nil, fmt.Errorf("find the pod: %w", err)
	}
	pod, err := f.pods.Pods(f.Namespace).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("get pod %s/%s: %w", f.Namespace, name, err)
	}
	if pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil {
		return nil, fmt.Errorf("pod %s/%s is %s: %w", f.Namespace, name, podState(pod), errNotRunning)
	}
	u, err := subresourceURL(f.Config, f.Namespace, name, "portforward", nil)
	if err != nil {
		return nil, err
	}
	dialer, err := newDialer(f.Config, u)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", f.Namespace, name, err)
	}
	conn, err := dialWithContext(ctx, dialer)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", f.Namespace, name, err)
	}
	t := &tunnel{f: f, conn: conn, ns: f.Namespace, pod: name, uid: pod.UID, podVersion: pod.ResourceVersion}
	t.ctx, t.stop = context.WithCancel(f.ctx)
	f.logf("connected to pod %s/%s", f.Namespace, name)
	return t, nil
}

func podState(pod *corev1.Pod) string {
	if pod.DeletionTimestamp != nil {
		return "terminating"
	}
	return string(pod.Status.Phase)
}

// newDialer is kubectl's port-forward dialer: SPDY tunnelled through a WebSocket first, plain
// SPDY (POST) when the upgrade fails or an HTTPS proxy is in the way.
func newDialer(cfg *rest.Config, u *url.URL) (httpstream.Dialer, error) {
	rt, upgrader, err := spdy.RoundTripperFor(cfg)
	if err != nil {
		return nil, err
	}
	plain := spdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", u)
	tunnelled, err := portforward.NewSPDYOverWebsocketDialer(u, cfg)
	if err != nil {
		return nil, err
	}
	return portforward.NewFallbackDialer(tunnelled, plain, shouldFallback), nil
}

// dialWithContext dials, giving up when ctx ends (the dialers take no context); a connection
// that arrives after that is closed.
func dialWithContext(ctx context.Context, d httpstream.Dialer) (httpstream.Connection, error) {
	type result struct {
		conn httpstream.Connection
		err  error
	}
	done := make(chan result, 1)
	go func() {
		conn, _, err := d.Dial(portforward.PortForwardProtocolV1Name)
		done <- result{conn, err}
	}()
	select {
	case r := <-done:
		return r.conn, r.err
	case <-ctx.Done():
		go func() {
			if r := <-done; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, ctx.Err()
	}
}

// watchPod retires t when its pod is deleted, replaced (another UID) or stops running: the
// kubelet keeps such a connection open, but every stream on it would fail.
func (f *Forwarder) watchPod(t *tunnel) {
	pods := f.pods.Pods(t.ns)
	version := t.podVersion
	b := connectBackoff
	for t.ctx.Err() == nil {
		w, err := pods.Watch(t.ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", t.pod).String(),
			ResourceVersion: version, AllowWatchBookmarks: true,
		})
		if err == nil {
			var gone string
			version, gone = watchUntilGone(w, t, version)
			w.Stop()
			if gone != "" {
				f.retire(t, gone)
				return
			}
		}
		if t.ctx.Err() != nil {
			return
		}
		// The watch ended (a timeout, a compacted version): look at the pod as it is now and
		// watch again from there.
		pod, err := pods.Get(t.ctx, t.pod, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			f.retire(t, "pod deleted")
			return
		case err == nil:
			if gone := goneReason(pod, t); gone != "" {
				f.retire(t, gone)
				return
			}
			version, b = pod.ResourceVersion, connectBackoff
			continue
		}
		select { // the API server is unreachable for now
		case <-time.After(b.Step()):
		case <-t.ctx.Done():
		}
	}
}

// watchUntilGone reads w until it ends or t's pod is gone (the reason returned), and returns
// the last resourceVersion seen.
func watchUntilGone(w watch.Interface, t *tunnel, version string) (string, string) {
	for {
		select {
		case <-t.ctx.Done():
			return version, ""
		case ev, ok := <-w.ResultChan():
			if !ok {
				return version, ""
			}
			switch ev.Type {
			case watch.Deleted:
				return version, "pod deleted"
			case watch.Added, watch.Modified, watch.Bookmark:
				pod, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				version = pod.ResourceVersion
				if ev.Type != watch.Bookmark {
					if gone := goneReason(pod, t); gone != "" {
						return version, gone
					}
				}
			case watch.Error:
				return version, ""
			}
		}
	}
}

// goneReason says why pod is no longer the one t forwards to ("" while it is).
func goneReason(pod *corev1.Pod, t *tunnel) string {
	switch {
	case pod.UID != t.uid:
		return "pod replaced"
	case pod.DeletionTimestamp != nil:
		return "pod terminating"
	case pod.Status.Phase != corev1.PodRunning:
		return "pod " + string(pod.Status.Phase)
	}
	return ""
}
