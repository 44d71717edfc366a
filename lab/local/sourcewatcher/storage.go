package sourcewatcher

import (
	"context"
	"errors"
	"fmt"
	"github.com/cozylab/cozylab/internal/atomicfile"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// storage keeps the built tarballs on disk, one directory per generator and output artifact:
// <root>/<namespace>/<generator>/<artifact>/<hex>.tar.gz. Files are named by content digest, so
// a rebuild with equal content writes nothing, and the URL of an artifact changes exactly when
// its content does.
type storage struct {
	root string
}

// relPath is the slash path of an artifact's tarball below the storage root; it is also the
// artifact's "path" and the path of its URL.
func relPath(namespace, generator, artifact, hex string) string {
	return strings.Join([]string{namespace, generator, artifact, hex + ".tar.gz"}, "/")
}

// put writes data at rel unless it is already there, then removes the other tarballs of that
// artifact.
func (s *storage) put(rel string, data []byte) error {
	full := filepath.Join(s.root, filepath.FromSlash(rel))
	dir := filepath.Dir(full)
	if _, err := os.Stat(full); errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("store artifact %s: %w", rel, err)
		}
		if err := atomicfile.WriteFile(full, data, 0o644); err != nil {
			return fmt.Errorf("store artifact %s: %w", rel, err)
		}
	} else if err != nil {
		return fmt.Errorf("store artifact %s: %w", rel, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("list stored artifacts in %s: %w", dir, err)
	}
	var errs []error
	for _, e := range entries {
		if e.Name() != filepath.Base(full) {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove old artifacts of %s: %w", rel, err)
	}
	return nil
}

// prune removes the artifact directories of a generator not in keep; keep nil removes the
// generator's directory altogether.
func (s *storage) prune(namespace, generator string, keep map[string]bool) error {
	dir := filepath.Join(s.root, namespace, generator)
	if keep == nil {
		if err := os.RemoveAll(dir); err != nil {
			return fmt.Errorf("remove stored artifacts of %s/%s: %w", namespace, generator, err)
		}
		return nil
	}
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list stored artifacts of %s/%s: %w", namespace, generator, err)
	}
	var errs []error
	for _, e := range entries {
		if !keep[e.Name()] {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove old artifacts of %s/%s: %w", namespace, generator, err)
	}
	return nil
}

// handler serves the stored tarballs; directories are not listed.
func (s *storage) handler() http.Handler {
	files := http.FileServer(http.Dir(s.root))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		if !strings.HasSuffix(r.URL.Path, ".tar.gz") {
			http.NotFound(w, r)
			return
		}
		files.ServeHTTP(w, r)
	})
}

// listenLoopback listens on addr, which must be on 127.0.0.1: the stand-in serves plain HTTP
// without authentication and must not be reachable from elsewhere.
func listenLoopback(addr string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("parse listen address %q: %w", addr, err)
	}
	if host != "127.0.0.1" {
		return nil, fmt.Errorf("listen address %q: host must be 127.0.0.1", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return l, nil
}

// serve runs an HTTP server for h on l until ctx ends, then shuts it down.
func serve(ctx context.Context, l net.Listener, h http.Handler) error {
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(l) }()
	select {
	case err := <-done:
		return fmt.Errorf("serve artifacts: %w", err)
	case <-ctx.Done():
	}
	shutdownCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("stop artifact server: %w", err)
	}
	<-done
	return nil
}
