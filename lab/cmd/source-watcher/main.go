// Command source-watcher runs the lab's source-watcher stand-in (package
// lab/local/sourcewatcher) as a program, so a lab with a real node can run it in the Flux pod in
// place of ghcr.io/fluxcd/source-watcher, which the Go module proxy does not serve (package
// lab/images builds the image). It accepts every flag the operator's Flux Deployment passes to
// source-watcher (operator/flux/objects.go); the ones the stand-in has no use for are accepted
// and ignored, each said so in its help text.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"

	"k8s.io/apimachinery/pkg/runtime"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cozylab/cozylab/lab/local/sourcewatcher"
)

// config is what the flags decide.
type config struct {
	metricsAddr, healthAddr  string
	storageAddr, storagePath string
	storageAdvAddr           string
	watchAllNamespaces       bool
	leaderElection           bool
	logEncoding, logLevel    string
	eventsAddr               string
	concurrent               int
	runtimeNamespace         string
	sourceLocalhost          string
	zap                      zap.Options
}

func main() {
	cfg, err := parseFlags(flag.CommandLine, os.Args[1:], os.Getenv("RUNTIME_NAMESPACE"))
	cfg.sourceLocalhost = os.Getenv("SOURCE_CONTROLLER_LOCALHOST")
	if err != nil {
		fmt.Fprintln(os.Stderr, "source-watcher:", err)
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.UseFlagOptions(&cfg.zap)))
	if err := run(ctrl.SetupSignalHandler(), cfg); err != nil {
		ctrl.Log.Error(err, "source-watcher stopped")
		os.Exit(1)
	}
}

// parseFlags reads args (upstream source-watcher's flags) into a config. namespace is the pod's
// namespace (RUNTIME_NAMESPACE), needed when not watching all namespaces.
func parseFlags(fs *flag.FlagSet, args []string, namespace string) (config, error) {
	cfg := config{runtimeNamespace: namespace}
	fs.StringVar(&cfg.metricsAddr, "metrics-addr", ":8080", "address the metrics endpoint binds to")
	fs.StringVar(&cfg.healthAddr, "health-addr", ":9440", "address the /healthz and /readyz probes bind to")
	fs.StringVar(&cfg.storageAddr, "storage-addr", ":9090", "address the artifacts are served on; the host must be 127.0.0.1 or empty (loopback: the stand-in serves without authentication)")
	fs.StringVar(&cfg.storagePath, "storage-path", "/data", "directory the artifacts are stored in")
	fs.StringVar(&cfg.storageAdvAddr, "storage-adv-addr", "", "host[:port] the artifact URLs name (the Service in front of the pod); empty: the listen address")
	fs.BoolVar(&cfg.watchAllNamespaces, "watch-all-namespaces", true, "watch every namespace, not only RUNTIME_NAMESPACE")
	fs.BoolVar(&cfg.leaderElection, "enable-leader-election", false, "elect a leader (a Lease in RUNTIME_NAMESPACE) before reconciling")
	fs.StringVar(&cfg.logEncoding, "log-encoding", "json", "log encoding: json or console")
	fs.StringVar(&cfg.logLevel, "log-level", "info", "log level: debug, info or error")
	fs.StringVar(&cfg.eventsAddr, "events-addr", "", "ignored: the stand-in records no events")
	fs.IntVar(&cfg.concurrent, "concurrent", 2, "ignored: the stand-in reconciles two generators at a time")
	if err := fs.Parse(args); err != nil {
		return config{}, err
	}
	if fs.NArg() != 0 {
		return config{}, fmt.Errorf("unexpected arguments %q: source-watcher takes flags only", fs.Args())
	}
	zfs := flag.NewFlagSet("zap", flag.ContinueOnError)
	cfg.zap.BindFlags(zfs)
	if err := zfs.Set("zap-encoder", cfg.logEncoding); err != nil {
		return config{}, fmt.Errorf("--log-encoding=%q: want json or console", cfg.logEncoding)
	}
	if err := zfs.Set("zap-log-level", cfg.logLevel); err != nil {
		return config{}, fmt.Errorf("--log-level=%q: want debug, info or error", cfg.logLevel)
	}
	host, port, err := net.SplitHostPort(cfg.storageAddr)
	if err != nil {
		return config{}, fmt.Errorf("--storage-addr=%q: want [127.0.0.1]:<port>: %w", cfg.storageAddr, err)
	}
	if host == "" {
		cfg.storageAddr = net.JoinHostPort("127.0.0.1", port)
	}
	if !cfg.watchAllNamespaces && namespace == "" {
		return config{}, errors.New("--watch-all-namespaces=false needs the pod's namespace in RUNTIME_NAMESPACE")
	}
	return cfg, nil
}

// run starts the stand-in under a controller manager and serves until ctx ends.
func run(ctx context.Context, cfg config) error {
	log := ctrl.Log.WithName("source-watcher")
	restConfig, err := ctrl.GetConfig()
	if err != nil {
		return fmt.Errorf("load the API server configuration (in-cluster, KUBECONFIG or --kubeconfig): %w", err)
	}
	opts := ctrl.Options{
		Scheme:                  runtime.NewScheme(),
		Metrics:                 metricsserver.Options{BindAddress: cfg.metricsAddr},
		HealthProbeBindAddress:  cfg.healthAddr,
		LeaderElection:          cfg.leaderElection,
		LeaderElectionID:        "cozylab-source-watcher",
		LeaderElectionNamespace: cfg.runtimeNamespace,
	}
	if !cfg.watchAllNamespaces {
		opts.Cache = cache.Options{DefaultNamespaces: map[string]cache.Config{cfg.runtimeNamespace: {}}}
	}
	mgr, err := ctrl.NewManager(restConfig, opts)
	if err != nil {
		return fmt.Errorf("create controller manager: %w", err)
	}
	if err := errors.Join(mgr.AddHealthzCheck("ping", healthz.Ping), mgr.AddReadyzCheck("ping", healthz.Ping)); err != nil {
		return fmt.Errorf("add health checks: %w", err)
	}
	sw := sourcewatcher.New(sourcewatcher.Options{
		Addr: cfg.storageAddr, AdvertiseAddr: cfg.storageAdvAddr, StorageDir: cfg.storagePath,
		// As upstream: in the Flux pod, source artifacts come from source-controller on the
		// pod's loopback, whatever host their URLs name.
		SourceLocalhost: cfg.sourceLocalhost,
	})
	if err := sw.SetupWithManager(mgr); err != nil {
		return err
	}
	log.Info("serving artifacts", "listen", cfg.storageAddr, "url", sw.URL(), "storagePath", cfg.storagePath,
		"sourceLocalhost", cfg.sourceLocalhost)
	return mgr.Start(ctx)
}
