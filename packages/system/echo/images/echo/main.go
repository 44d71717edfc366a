// Command echo is the example workload of the system/echo chart: an HTTP server that answers
// every path with a plain-text page naming itself, the pod it runs in (its hostname) and the
// request it received, and /healthz with 200 for the readiness probe. `make image` in the chart
// directory builds it into a single-binary image (lab/packageloop.Image); it needs no files, so
// it runs on a read-only root file system as any user. `echo get URL` prints the body at URL and
// fails on an error or a status other than 200: the e2e fetches the page from another pod with it.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) == 3 && os.Args[1] == "get" {
		if err := fetch(os.Args[2], os.Stdout); err != nil {
			log.Fatal(err)
		}
		return
	}
	port := flag.Int("port", 8080, "TCP port to serve HTTP on")
	flag.Parse()
	if *port < 1 || *port > 65535 {
		log.Fatalf("--port=%d: want 1-65535", *port)
	}
	host, err := os.Hostname()
	if err != nil {
		log.Fatalf("read hostname: %v", err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := serve(ctx, fmt.Sprintf(":%d", *port), host); err != nil {
		log.Fatal(err)
	}
}

// serve answers on addr until ctx ends, then lets requests in flight finish.
func serve(ctx context.Context, addr, host string) error {
	srv := &http.Server{Addr: addr, Handler: newHandler(host), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan error, 1)
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		done <- srv.Shutdown(shutdown)
	}()
	log.Printf("echo on %s serving %s", host, addr)
	if err := srv.ListenAndServe(); !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve %s: %w", addr, err)
	}
	if err := <-done; err != nil {
		return fmt.Errorf("shut down: %w", err)
	}
	return nil
}

// newHandler serves /healthz and, on every other path, the echo page of host.
func newHandler(host string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n") // a client gone mid-write has no one to tell
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		_, _ = io.WriteString(w, page(host, r)) // as above
	})
	return mux
}

// page is the echo page: who answered, then the request line and headers in name order.
func page(host string, r *http.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "echo from %s\n\n%s %s %s\nHost: %s\n", host, r.Method, r.URL.RequestURI(), r.Proto, r.Host)
	names := make([]string, 0, len(r.Header))
	for k := range r.Header {
		names = append(names, k)
	}
	slices.Sort(names)
	for _, k := range names {
		for _, v := range r.Header[k] {
			fmt.Fprintf(&b, "%s: %s\n", k, v)
		}
	}
	return b.String()
}

// fetch writes the body at url to w; a status other than 200 is an error.
func fetch(url string, w io.Writer) error {
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("get %s: %s", url, resp.Status)
	}
	_, err = io.Copy(w, resp.Body)
	return err
}
