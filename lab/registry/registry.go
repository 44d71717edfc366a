package registry

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
)

// DefaultAddr is where Start listens when Options.Addr is empty: loopback, any free port.
const DefaultAddr = "127.0.0.1:0"

// Options configure Start.
type Options struct {
	// Addr is the host:port to listen on; DefaultAddr when empty. A port of 0 picks a free one.
	Addr string
	// Prefer, when set, is tried before Addr: the address an earlier registry of the same lab
	// served on, which references in the cluster still name.
	Prefer string
}

// Registry is a running in-memory OCI registry. Its zero value is not usable; call Start.
type Registry struct {
	srv  *http.Server
	addr string

	mu     sync.Mutex
	serves sync.WaitGroup
	errs   []error
	closed bool
}

// Start listens on opts.Addr and serves an empty registry until Close.
func Start(opts Options) (*Registry, error) {
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	r := &Registry{srv: &http.Server{
		// mirrorHandler: a node's containerd pulls upstream names through ?ns= (mirror.go).
		Handler: mirrorHandler(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))),
		// Blob uploads can be large (the operator binary); only the header read is bounded.
		ReadHeaderTimeout: 30 * time.Second,
	}}
	bound, err := r.listenFirst(opts.Prefer, addr)
	if err != nil {
		return nil, err
	}
	r.addr = bound
	return r, nil
}

// listenFirst listens on the first of addrs that is set and free, and returns the last error
// when none is.
func (r *Registry) listenFirst(addrs ...string) (string, error) {
	var err error
	for _, a := range addrs {
		if a == "" {
			continue
		}
		var bound string
		if bound, err = r.Listen(a); err == nil {
			return bound, nil
		}
	}
	return "", err
}

// Addr is the host:port of the first listener, for references such as Addr()+"/packages:v1".
func (r *Registry) Addr() string { return r.addr }

// Ref is the reference "<Addr>/<repo>:<tag>" to push to or pull from.
func (r *Registry) Ref(repo, tag string) string { return fmt.Sprintf("%s/%s:%s", r.addr, repo, tag) }

// URL is the OCIRepository spec.url "oci://<Addr>/<repo>" (the tag goes in spec.ref.tag).
func (r *Registry) URL(repo string) string { return fmt.Sprintf("oci://%s/%s", r.addr, repo) }

// Listen serves the same registry on one more address, such as the lab network's host address
// once the bridge exists, and returns the bound host:port. The listener lives until Close.
func (r *Registry) Listen(addr string) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return "", fmt.Errorf("listen on %s: registry is closed", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen on %s: %w", addr, err)
	}
	r.serves.Add(1)
	go func() {
		defer r.serves.Done()
		if err := r.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			r.mu.Lock()
			r.errs = append(r.errs, fmt.Errorf("serve registry on %s: %w", ln.Addr(), err))
			r.mu.Unlock()
		}
	}()
	return ln.Addr().String(), nil
}

// Close stops every listener and drops the registry's contents. It is safe to call twice.
func (r *Registry) Close() error {
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		return nil
	}
	r.closed = true
	r.mu.Unlock()
	err := r.srv.Close()
	r.serves.Wait()
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		err = fmt.Errorf("close registry %s: %w", r.addr, err)
	}
	return errors.Join(append([]error{err}, r.errs...)...)
}
