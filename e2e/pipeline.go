package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/e2e/releasewait"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/provider"
)

// Options configure Run.
type Options struct {
	// RepoRoot is the module checkout: the operator (and our installer chart) are built from it.
	RepoRoot string
	// Packages is the packages tree pushed as the platform source: any Cozystack-style tree
	// (core/platform, core/installer, system/, apps/ …); <RepoRoot>/packages when empty.
	Packages string
	// Installer picks the installer chart: InstallerOurs (this repository's, the default) or
	// InstallerTree (the tree's core/installer). Either gets the operator image built here.
	Installer string
	// ValuesFile, when set, is a YAML file whose values override the platform component's
	// (trim a variant to what the lab can run).
	ValuesFile string
	// Lab is where the platform runs; Run refuses one that cannot run it (CanRunPlatform)
	// before anything starts.
	Lab provider.Platform
	// Variant of the platform Package; DefaultPlatformVariant when empty.
	Variant string
	// Overlay adds or replaces files in the pushed packages/ tree (tests add broken charts).
	Overlay map[string][]byte
	// ExtraObjects are applied with the platform Package (tests add a Package of the overlay).
	ExtraObjects []client.Object
	// ReleaseTimeout bounds the HelmRelease wait (15m when zero); FailAfter is how long one
	// release may keep failing (3m when zero).
	ReleaseTimeout, FailAfter time.Duration
	// KeepGoing lets the HelmRelease wait go on past a failed or stalled release until nothing
	// more can progress, then fail listing every blocker by class (in junit.xml, one test case
	// per HelmRelease, and in the diagnostics summary), instead of ending at the first.
	KeepGoing bool
	// PushTag tags the operator image and the packages artifact in the lab registry
	// (DefaultPushTag when empty); the cluster names them by digest either way.
	PushTag string
	// ReportDir receives junit.xml and, on failure, the diagnostics bundle.
	ReportDir string
	Progress  progress.Reporter
}

func (o Options) pushTag() string { return cmp.Or(o.PushTag, DefaultPushTag) }

// DefaultPlatformVariant is the platform variant the e2e installs when none is chosen: the one
// with every example package. (v1alpha1.DefaultVariant, "default", is what an empty
// spec.variant means to the operator.)
const DefaultPlatformVariant = "isp-full"

// Result is what a run measured.
type Result struct {
	Actions []ActionResult
	// Diagnostics is the bundle's directory and archive when an action failed.
	Diagnostics, Archive string
	// AllReady is how long the platform took from its Package to every HelmRelease Ready.
	AllReady time.Duration
	Releases int
	// RelaxedWebhooks names each webhook the lab set to failurePolicy Ignore because only
	// simulated pods serve it (LAB_SIMULATED_WEBHOOKS=ignore): "<kind> <name>: <webhook>,…".
	RelaxedWebhooks []string
	// RealNodePods are the pods running on the lab's real node ("namespace/name"), when it has one.
	RealNodePods []string
	// EchoPages are the URLs of the echo servers whose page another pod fetched.
	EchoPages []string
	// OperatorImage is the operator image the run pushed and installed, by digest.
	OperatorImage string
	// GuestPeaks is each lab guest's peak resident memory in bytes, by node, at the end of the
	// run, on a lab that measures it (provider.Figures: the QEMU lab); GuestPeaksErr says what
	// could not be read.
	GuestPeaks    map[string]uint64
	GuestPeaksErr error
}

// ActionResult is one action's outcome, for the timing table and JUnit.
type ActionResult struct {
	Name     string
	Duration time.Duration
	Err      error
	Skipped  string
}

// env is the state the actions share.
type env struct {
	o        Options
	cfg      *rest.Config
	c        client.WithWatch
	pushed   pushed
	readyDur time.Duration
	releases int
	relaxed  []string
	realPods []string
	echoURLs []string
	// blocked is the keep-going wait's Result when it ended with releases not Ready.
	blocked *releasewait.Result
}

type stage struct {
	name string
	run  func(ctx context.Context, e *env, step progress.Step) error
}

var stages = []stage{
	{"lab up", labUp},
	{"push artifacts", pushArtifacts},
	{"point the platform's migrations at the new operator", pointMigrations},
	{"install the installer chart", installInstaller},
	{"wait for the operator and the platform source", waitOperator},
	{"create the platform Package", createPlatform},
	{"wait for every HelmRelease", waitReleases},
	{"install an echo application", installEchoApp},
	{"check Packages, HelmReleases, Deployments", checkAll},
	{"check the pods on the real node", checkRealNodePods},
	{"fetch the echo page through its Service from another pod", checkEchoPage},
}

// Run runs the pipeline. On failure it writes the diagnostics bundle and returns the error of
// the first failed action; the JUnit report is written in every case.
func Run(ctx context.Context, o Options) (Result, error) {
	if o.Variant == "" {
		o.Variant = DefaultPlatformVariant
	}
	if o.Progress == nil {
		o.Progress = progress.Discard
	}
	if err := o.checkTree(); err != nil {
		return Result{}, err // before anything starts
	}
	if err := o.Lab.CanRunPlatform(); err != nil {
		return Result{}, err // before anything starts
	}
	if err := os.MkdirAll(o.ReportDir, 0o755); err != nil {
		return Result{}, fmt.Errorf("create report directory: %w", err)
	}
	e := &env{o: o}
	var res Result
	var failed error
	for _, a := range stages {
		start := time.Now()
		step := o.Progress.Begin(a.name)
		err := a.run(ctx, e, step)
		step.Done(err)
		res.Actions = append(res.Actions, ActionResult{Name: a.name, Duration: time.Since(start), Err: err})
		if err != nil {
			failed = fmt.Errorf("%s: %w", a.name, err)
			break
		}
	}
	res.AllReady, res.Releases, res.RelaxedWebhooks, res.RealNodePods, res.EchoPages = e.readyDur, e.releases, e.relaxed, e.realPods, e.echoURLs
	res.OperatorImage = e.pushed.operatorImage
	if f, ok := o.Lab.(provider.Figures); ok {
		res.GuestPeaks, res.GuestPeaksErr = f.GuestPeaks()
	}
	if failed != nil {
		res.Diagnostics, res.Archive = collect(ctx, e, failed)
	}
	if err := writeJUnit(filepath.Join(o.ReportDir, "junit.xml"), res.Actions, e.blocked); err != nil {
		failed = errors.Join(failed, err)
	}
	return res, failed
}

// bound scales a wait's bound by the lab's pace (provider.Paced): an emulated lab does the
// same work several times slower, and a bound that fits a native one would fail it.
func (e *env) bound(d time.Duration) time.Duration { return d * time.Duration(e.pace()) }

// pace is how many times slower than native the lab is: its Slowdown, at least 1.
func (e *env) pace() int {
	if p, ok := e.o.Lab.(provider.Paced); ok {
		return max(1, p.Slowdown())
	}
	return 1
}

// connect builds the clients once the lab is up.
func (e *env) connect() error {
	cfg, err := clientcmd.BuildConfigFromFlags("", e.o.Lab.Kubeconfig())
	if err != nil {
		return fmt.Errorf("load the lab's kubeconfig: %w", err)
	}
	cfg.QPS, cfg.Burst = 50, 100
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme()})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	e.cfg, e.c = cfg, c
	return nil
}

func labUp(ctx context.Context, e *env, step progress.Step) error {
	step.Status("provider %s", e.o.Lab.Name())
	if err := e.o.Lab.Up(ctx, e.o.Progress); err != nil {
		return err
	}
	return e.connect()
}
