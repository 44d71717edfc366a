package local

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/labpage"
	"github.com/cozylab/cozylab/lab/state"
)

// ActionPage serves the lab's status page.
const ActionPage = "Serving the lab page"

// startPage serves the lab page (package labpage) on the lab's network — the real node's host
// address, which pods and the proxy reach; loopback in a kwok-only lab — on the port the last
// daemon used when it is free, and records its URL for lab:status.
func (l *lab) startPage(_ context.Context, step progress.Step) error {
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), helmv2.AddToScheme(scheme)); err != nil {
		return err
	}
	c, err := client.New(l.cluster.RESTConfig(), client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	f, err := l.facts()
	if err != nil {
		return err
	}
	host := "127.0.0.1"
	if l.plan != nil {
		host = l.plan.Host.String()
	}
	var ln net.Listener
	if u, err := url.Parse(f.Page); err == nil && f.Page != "" {
		if port := u.Port(); port != "" {
			ln, _ = net.Listen("tcp", net.JoinHostPort(host, port)) // taken: any free port below
		}
	}
	if ln == nil {
		if ln, err = net.Listen("tcp", net.JoinHostPort(host, "0")); err != nil {
			return fmt.Errorf("listen for the lab page: %w", err)
		}
	}
	srv := &http.Server{Handler: labpage.Handler(l.store.Request().Name, c), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	l.stops = append(l.stops, func(ctx context.Context) error {
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	page := "http://" + ln.Addr().String() + "/"
	step.Status("%s (through the proxy: go run mage.go proxy)", page)
	return state.UpdateFacts(l.store, func(f *facts) { f.Page = page })
}
