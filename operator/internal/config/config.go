// Package config parses and validates the flags of cozystack-operator. Every flag of upstream's
// operator is accepted with its default; every bad value is refused with a message naming the
// flag and what it accepts, before anything touches the cluster.
package config

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/platform"
	"github.com/cozylab/cozylab/operator/internal/releases"
)

// Config is the validated configuration of one operator process.
type Config struct {
	// Kubeconfig is an explicit kubeconfig path; empty uses KUBECONFIG, ~/.kube/config or the
	// in-cluster service account.
	Kubeconfig string
	// QPS and Burst limit the client's request rate (client-go's default of 5/s throttles a
	// platform of hundreds of Packages for minutes).
	QPS         float64
	Burst       int
	MetricsAddr string
	ProbeAddr   string
	LeaderElect bool
	// Leases are the leader election's timings (controller-runtime's 15s/10s/2s unless set): an
	// emulated or overloaded node that cannot renew within the deadline loses the lease, and
	// the operator exits for its pod to be restarted.
	Leases        Leases
	MetricsSecure bool
	EnableHTTP2   bool
	InstallCRDs   bool
	InstallFlux   bool
	// FluxRequeueDependency is how often the installed source- and helm-controller re-check an
	// object waiting on a dependency (their --requeue-dependency): Flux's 30s as shipped.
	FluxRequeueDependency time.Duration

	DisableTelemetry  bool
	TelemetryEndpoint string
	TelemetryInterval time.Duration

	HelmRelease releases.Settings

	// PlatformSource is the platform's Flux source; URL empty means none is created.
	PlatformSource platform.SourceOptions
	PlatformKind   string

	ValuesSecretName      string
	ValuesSecretNamespace string
	ValuesNamespaces      labels.Selector

	// AppDefController runs the ApplicationDefinition controller (upstream runs it in a
	// separate binary, cozystack-controller).
	AppDefController bool

	Zap zap.Options
}

// Leases are the leader election's lease duration, renew deadline and retry period.
type Leases struct {
	Duration, RenewDeadline, RetryPeriod time.Duration
}

// raw holds flag values before validation.
type raw struct {
	telemetryInterval, hrInterval, hrRetry, hrInstall, hrUpgrade string
	fluxRequeue                                                  string
	leaseDuration, renewDeadline, retryPeriod                    string
	maxHistory, maxRetries                                       int
	ref, selector                                                string
}

// Parse parses args (without the program name). The error names the flag that is wrong; a
// request for help returns flag.ErrHelp after printing the usage to out.
func Parse(args []string, out io.Writer) (Config, error) {
	var c Config
	var r raw
	fs := flag.NewFlagSet("cozystack-operator", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&c.Kubeconfig, "kubeconfig", "", "kubeconfig file; empty: KUBECONFIG, ~/.kube/config, then in-cluster")
	fs.Float64Var(&c.QPS, "kube-api-qps", 100, "requests per second to the API server")
	fs.IntVar(&c.Burst, "kube-api-burst", 200, "request burst to the API server")
	fs.StringVar(&c.MetricsAddr, "metrics-bind-address", ":8080", "address of the metrics endpoint; 0 disables it")
	fs.StringVar(&c.ProbeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz; 0 disables them")
	fs.BoolVar(&c.LeaderElect, "leader-elect", false, "elect a leader (Lease cozystack-operator.cozystack.io) so only one replica reconciles")
	fs.StringVar(&r.leaseDuration, "leader-elect-lease-duration", "15s", "how long a lease holds without renewal before another replica may take it (a positive duration)")
	fs.StringVar(&r.renewDeadline, "leader-elect-renew-deadline", "10s", "how long the leader keeps trying to renew before it gives up and exits (less than the lease duration)")
	fs.StringVar(&r.retryPeriod, "leader-elect-retry-period", "2s", "how often replicas try to acquire or renew the lease (less than the renew deadline)")
	fs.BoolVar(&c.MetricsSecure, "metrics-secure", false, "serve metrics over HTTPS")
	fs.BoolVar(&c.EnableHTTP2, "enable-http2", false, "allow HTTP/2 for the metrics server (off: HTTP/2 rapid-reset mitigations)")
	fs.BoolVar(&c.InstallCRDs, "install-crds", false, "apply the Package and PackageSource CRDs on start and wait for them")
	fs.BoolVar(&c.InstallFlux, "install-flux", false, "apply the embedded Flux distribution on start")
	fs.StringVar(&r.fluxRequeue, "flux-requeue-dependency", "30s", "--requeue-dependency of the installed source- and helm-controller: how soon a release waiting on another is checked again (a positive duration)")
	fs.BoolVar(&c.DisableTelemetry, "disable-telemetry", false, "accepted for compatibility; this operator sends no telemetry")
	fs.StringVar(&c.TelemetryEndpoint, "telemetry-endpoint", "https://telemetry.cozystack.io", "accepted for compatibility; nothing is sent")
	fs.StringVar(&r.telemetryInterval, "telemetry-interval", "15m", "accepted for compatibility (a positive duration)")
	fs.StringVar(&r.hrInterval, "helmrelease-interval", "5m", "spec.interval of every HelmRelease (a positive duration)")
	fs.StringVar(&r.hrRetry, "helmrelease-retry-interval", "30s", "retry interval of failed installs and upgrades (a positive duration)")
	fs.StringVar(&r.hrInstall, "helmrelease-install-timeout", "10m", "install timeout (a positive duration)")
	fs.StringVar(&r.hrUpgrade, "helmrelease-upgrade-timeout", "10m", "upgrade timeout (a positive duration)")
	fs.IntVar(&r.maxHistory, "helmrelease-max-history", 5, "spec.maxHistory of every HelmRelease (0 keeps every revision)")
	fs.IntVar(&r.maxRetries, "helmrelease-max-retries", 0, "cap failed install/upgrade attempts, then stall the release (0 retries forever)")
	fs.StringVar(&c.PlatformSource.URL, "platform-source-url", "", "platform artifact: oci://… (OCIRepository) or https://, http://, ssh://… (GitRepository); empty creates no source")
	fs.StringVar(&c.PlatformSource.Name, "platform-source-name", "cozystack-platform", "name of the platform Flux source; the PackageSource is cozystack.<name>")
	fs.StringVar(&r.ref, "platform-source-ref", "", "key=value[,key=value…]: digest, semver, semverFilter, tag (OCI) or branch, tag, semver, name, commit (Git)")
	fs.StringVar(&c.PlatformSource.Secret, "platform-source-secret", "", "Secret in cozy-system with the source's credentials")
	fs.BoolVar(&c.PlatformSource.Insecure, "platform-source-insecure", false, "pull the OCI platform source over plain HTTP (a lab's local registry)")
	fs.StringVar(&c.ValuesSecretName, "cozy-values-secret-name", v1alpha1.ValuesSecretName, "Secret replicated into system namespaces")
	fs.StringVar(&c.ValuesSecretNamespace, "cozy-values-secret-namespace", v1alpha1.SystemNamespace, "namespace of the Secret to replicate")
	fs.StringVar(&r.selector, "cozy-values-namespace-selector", v1alpha1.LabelSystem+"=true", "label selector of the namespaces that get the Secret")
	fs.BoolVar(&c.AppDefController, "applicationdefinition-controller", true, "restart cozystack-api when ApplicationDefinitions change")
	c.Zap = zap.Options{Development: true}
	c.Zap.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return Config{}, err
	}
	if fs.NArg() > 0 {
		return Config{}, fmt.Errorf("unexpected argument %q: cozystack-operator takes only flags (or the migrate subcommand first)", fs.Arg(0))
	}
	return c, c.validate(r)
}

func (c *Config) validate(r raw) error {
	var errs []error
	dur := func(flag, value string, into *time.Duration) {
		d, err := ParsePositiveDuration(flag, value)
		errs = append(errs, err)
		*into = d
	}
	dur("telemetry-interval", r.telemetryInterval, &c.TelemetryInterval)
	dur("helmrelease-interval", r.hrInterval, &c.HelmRelease.Interval)
	dur("helmrelease-retry-interval", r.hrRetry, &c.HelmRelease.RetryInterval)
	dur("helmrelease-install-timeout", r.hrInstall, &c.HelmRelease.InstallTimeout)
	dur("helmrelease-upgrade-timeout", r.hrUpgrade, &c.HelmRelease.UpgradeTimeout)
	dur("flux-requeue-dependency", r.fluxRequeue, &c.FluxRequeueDependency)
	dur("leader-elect-lease-duration", r.leaseDuration, &c.Leases.Duration)
	dur("leader-elect-renew-deadline", r.renewDeadline, &c.Leases.RenewDeadline)
	dur("leader-elect-retry-period", r.retryPeriod, &c.Leases.RetryPeriod)
	if l := c.Leases; l.Duration > 0 && l.RenewDeadline > 0 && l.RetryPeriod > 0 {
		// client-go's leader election refuses these (it needs room for a jittered retry
		// before the deadline); say so here, naming the flags, rather than at the manager's start.
		if l.RenewDeadline >= l.Duration {
			errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline=%s must be less than --leader-elect-lease-duration=%s", l.RenewDeadline, l.Duration))
		}
		if float64(l.RenewDeadline) <= 1.2*float64(l.RetryPeriod) {
			errs = append(errs, fmt.Errorf("--leader-elect-renew-deadline=%s must be more than 1.2 × --leader-elect-retry-period=%s", l.RenewDeadline, l.RetryPeriod))
		}
	}
	if r.maxHistory < 0 {
		errs = append(errs, fmt.Errorf("--helmrelease-max-history=%d: want 0 (unlimited) or more", r.maxHistory))
	}
	if r.maxRetries < 0 {
		errs = append(errs, fmt.Errorf("--helmrelease-max-retries=%d: want 0 (retry forever) or more", r.maxRetries))
	}
	c.HelmRelease.MaxHistory, c.HelmRelease.MaxRetries = r.maxHistory, r.maxRetries
	if c.QPS <= 0 || c.Burst <= 0 {
		errs = append(errs, fmt.Errorf("--kube-api-qps=%g and --kube-api-burst=%d: want positive numbers", c.QPS, c.Burst))
	}
	sel, err := labels.Parse(r.selector)
	if err != nil {
		errs = append(errs, fmt.Errorf("--cozy-values-namespace-selector=%q: want a label selector such as cozystack.io/system=true: %w", r.selector, err))
	}
	c.ValuesNamespaces = sel
	c.PlatformSource.URL = strings.TrimSpace(c.PlatformSource.URL)
	if c.PlatformSource.URL != "" {
		kind, err := platform.SourceKind(c.PlatformSource.URL)
		errs = append(errs, err)
		if err == nil {
			c.PlatformKind = kind
			c.PlatformSource.Ref, err = platform.ParseRef(kind, r.ref)
			errs = append(errs, err)
			if c.PlatformSource.Insecure && kind != platform.KindOCIRepository {
				errs = append(errs, errors.New("--platform-source-insecure applies only to an oci:// --platform-source-url"))
			}
		}
	} else if strings.TrimSpace(r.ref) != "" {
		errs = append(errs, errors.New("--platform-source-ref needs --platform-source-url"))
	}
	if c.PlatformSource.Name == "" {
		errs = append(errs, errors.New("--platform-source-name is empty: want the name of the platform Flux source"))
	}
	return errors.Join(errs...)
}

// ParsePositiveDuration parses a duration flag that must be greater than zero.
func ParsePositiveDuration(flag, value string) (time.Duration, error) {
	d, err := time.ParseDuration(value)
	if err != nil {
		return 0, fmt.Errorf("--%s=%q: want a duration such as 30s, 5m or 1h", flag, value)
	}
	if d <= 0 {
		return 0, fmt.Errorf("--%s=%q: want a positive duration", flag, value)
	}
	return d, nil
}
