// Package app runs cozystack-operator: it bootstraps the cluster (CRDs, Flux, the platform
// source and PackageSource) and then runs the controllers in one manager. The binary in
// operator/cmd/cozystack-operator only parses flags and calls Run or Migrate.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cozylab/cozylab/operator/crds"
	"github.com/cozylab/cozylab/operator/internal/appdefcontroller"
	"github.com/cozylab/cozylab/operator/internal/artifacts"
	"github.com/cozylab/cozylab/operator/internal/config"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/platform"
	"github.com/cozylab/cozylab/operator/internal/releases"
	"github.com/cozylab/cozylab/operator/internal/scheme"
	"github.com/cozylab/cozylab/operator/internal/valuesreplicator"
	"github.com/cozylab/cozylab/operator/version"
)

// Bootstrap bounds, as upstream.
const (
	crdTimeout    = 2 * time.Minute
	fluxTimeout   = 5 * time.Minute
	sourceTimeout = 2 * time.Minute
)

// skipNameValidation lets tests run the operator twice in one process (a restart); a real
// process registers each controller name once.
var skipNameValidation = false

// LeaderElectionID is the Lease the replicas compete for.
const LeaderElectionID = "cozystack-operator.cozystack.io"

// RESTConfig loads the client configuration: an explicit kubeconfig, else KUBECONFIG or
// ~/.kube/config, else the in-cluster service account.
func RESTConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("load kubeconfig (set --kubeconfig or KUBECONFIG, or run in a cluster): %w", err)
	}
	return cfg, nil
}

// Run bootstraps and runs the operator until ctx ends.
func Run(ctx context.Context, cfg config.Config, restCfg *rest.Config, log logr.Logger) error {
	sch := scheme.Must()
	direct, err := client.NewWithWatch(restCfg, client.Options{Scheme: sch})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	mgr, err := ctrl.NewManager(restCfg, ctrl.Options{
		Scheme: sch,
		Metrics: metricsserver.Options{
			BindAddress: cfg.MetricsAddr, SecureServing: cfg.MetricsSecure, TLSOpts: tlsOptions(cfg.EnableHTTP2),
		},
		HealthProbeBindAddress: cfg.ProbeAddr,
		LeaderElection:         cfg.LeaderElect,
		LeaderElectionID:       LeaderElectionID,
		LeaseDuration:          &cfg.Leases.Duration,
		RenewDeadline:          &cfg.Leases.RenewDeadline,
		RetryPeriod:            &cfg.Leases.RetryPeriod,
		Controller:             ctrlconfig.Controller{SkipNameValidation: &skipNameValidation},
	})
	if err != nil {
		return fmt.Errorf("create manager: %w", err)
	}
	if err := Bootstrap(ctx, cfg, direct, log); err != nil {
		return err
	}
	if err := register(ctx, mgr, cfg, direct); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("healthz", healthz.Ping); err != nil {
		return fmt.Errorf("add health check: %w", err)
	}
	if err := mgr.AddReadyzCheck("readyz", healthz.Ping); err != nil {
		return fmt.Errorf("add ready check: %w", err)
	}
	if !cfg.DisableTelemetry {
		log.V(1).Info("telemetry is not implemented; nothing is sent", "endpoint", cfg.TelemetryEndpoint)
	}
	log.Info("starting controllers", "version", version.Version, "leaderElection", cfg.LeaderElect)
	return mgr.Start(ctx)
}

// tlsOptions turn HTTP/2 off unless asked for (HTTP/2 rapid reset, CVE-2023-44487).
func tlsOptions(http2 bool) []func(*tls.Config) {
	if http2 {
		return nil
	}
	return []func(*tls.Config){func(c *tls.Config) { c.NextProtos = []string{"http/1.1"} }}
}

// Bootstrap applies what the flags ask for, in upstream's order: CRDs, Flux, the platform
// source, and — with CRDs installed and a source URL — the platform PackageSource.
func Bootstrap(ctx context.Context, cfg config.Config, c client.WithWatch, log logr.Logger) error {
	if cfg.InstallCRDs {
		log.Info("installing CRDs")
		if err := withRetry(ctx, crdTimeout, log, "install CRDs", func(ctx context.Context) error {
			return install.CRDs(ctx, c, crds.FS, crds.Operator, crdTimeout)
		}); err != nil {
			return err
		}
	}
	if cfg.InstallFlux {
		log.Info("installing Flux")
		endpoint := install.APIEndpoint{Host: os.Getenv("KUBERNETES_SERVICE_HOST"), Port: os.Getenv("KUBERNETES_SERVICE_PORT")}
		if err := withRetry(ctx, fluxTimeout, log, "install Flux", func(ctx context.Context) error {
			return install.Flux(ctx, c, install.FluxOptions{Endpoint: endpoint, RequeueDependency: cfg.FluxRequeueDependency}, fluxTimeout)
		}); err != nil {
			return err
		}
	}
	if cfg.PlatformSource.URL == "" {
		return nil
	}
	src, err := platform.Source(cfg.PlatformSource)
	if err != nil {
		return err
	}
	objs := []client.Object{src}
	if cfg.InstallCRDs {
		objs = append(objs, platform.PackageSource(cfg.PlatformSource.Name, cfg.PlatformKind))
	}
	log.Info("applying the platform source", "kind", cfg.PlatformKind, "url", cfg.PlatformSource.URL)
	return withRetry(ctx, sourceTimeout, log, "apply the platform source", func(ctx context.Context) error { return platform.Apply(ctx, c, objs...) })
}

// Backoff between the attempts of a bootstrap phase.
var (
	retryFirst = 2 * time.Second
	retryMax   = 30 * time.Second
)

// withRetry runs fn, a phase of server-side applies and waits that can run again, until it
// succeeds, fails for a reason waiting will not fix, or d passes. An API server too busy to
// answer (a timeout, 429, 500, 503, a refused connection) is waited out: the operator exited on
// "the server was unable to return a response in the time allotted" while three emulated API
// servers established the Flux CRDs, and its restart cost the lab minutes.
func withRetry(ctx context.Context, d time.Duration, log logr.Logger, what string, fn func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	wait := retryFirst
	for attempt := 1; ; attempt++ {
		err := fn(ctx)
		if err == nil || !transient(err) {
			return err
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%s: %w (gave up after %s)", what, err, d)
		}
		log.Info("the API server did not answer: trying again", "phase", what, "attempt", attempt, "in", wait.String(), "error", err.Error())
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s: %w (gave up after %s)", what, err, d)
		case <-time.After(wait):
		}
		wait = min(2*wait, retryMax)
	}
}

// transient tells an API server that was too busy, or not there for a moment, from an answer.
func transient(err error) bool {
	var netErr net.Error
	switch {
	case apierrors.IsServerTimeout(err), apierrors.IsTimeout(err), apierrors.IsTooManyRequests(err),
		apierrors.IsServiceUnavailable(err), apierrors.IsInternalError(err), apierrors.IsConflict(err):
		return true
	case errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET), errors.Is(err, io.ErrUnexpectedEOF):
		return true
	case errors.As(err, &netErr) && netErr.Timeout():
		return true
	}
	return false
}

// register adds every controller to mgr.
func register(ctx context.Context, mgr ctrl.Manager, cfg config.Config, direct client.WithWatch) error {
	if err := (&artifacts.Reconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the PackageSource controller: %w", err)
	}
	if err := (&releases.Reconciler{Client: mgr.GetClient(), Settings: cfg.HelmRelease}).SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("set up the Package controller: %w", err)
	}
	replicator := &valuesreplicator.Reconciler{
		SecretName: cfg.ValuesSecretName, SourceNamespace: cfg.ValuesSecretNamespace, Selector: cfg.ValuesNamespaces,
	}
	if err := replicator.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("set up the values replicator: %w", err)
	}
	if cfg.AppDefController {
		// Its CRD ships with the platform's packages, installed after the operator: the
		// controller starts once the CRD is Established instead of failing its cache sync.
		err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error {
			if err := install.WaitEstablished(ctx, direct, []string{appDefCRD}, forever); err != nil {
				return nil // the manager is stopping
			}
			if err := (&appdefcontroller.Reconciler{}).SetupWithManager(mgr); err != nil {
				return fmt.Errorf("set up the ApplicationDefinition controller: %w", err)
			}
			if err := (&appdefcontroller.HelmReconciler{Client: mgr.GetClient()}).SetupWithManager(mgr); err != nil {
				return fmt.Errorf("set up the ApplicationDefinition HelmRelease controller: %w", err)
			}
			return nil
		}))
		if err != nil {
			return fmt.Errorf("add the ApplicationDefinition controller: %w", err)
		}
	}
	return nil
}

const (
	appDefCRD = "applicationdefinitions.cozystack.io"
	forever   = 100 * 365 * 24 * time.Hour
)
