package e2e

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/e2e/releasewait"
	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local/webhooks"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// waitReleases waits until the platform is installed: every Package Ready for its current
// generation (the operator has written all its HelmReleases) and every HelmRelease Ready, the
// whole confirmed by a consistent listing. Nothing is left for a later wait: a Package created
// with the platform counts from the start, whether or not the operator has reached it yet.
// In keep-going mode it waits until nothing more can progress, and keeps the wait's Result
// (every blocker) for the JUnit report and the diagnostics summary.
func waitReleases(ctx context.Context, e *env, step progress.Step) error {
	start := time.Now()
	res, err := releasewait.Wait(ctx, e.cfg, releasewait.Options{
		FailAfter: orDefault(e.o.FailAfter, e.bound(3*time.Minute)), Timeout: orDefault(e.o.ReleaseTimeout, e.bound(15*time.Minute)), Step: step,
		KeepGoing: e.o.KeepGoing,
	})
	if err != nil && e.o.KeepGoing {
		e.blocked = &res
	}
	if err != nil {
		return err
	}
	e.readyDur, e.releases = time.Since(start), len(res.Releases)
	step.Status("%d HelmReleases Ready in %s", e.releases, progress.Round(e.readyDur))
	return nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

// checkTimeout bounds checkAll's wait.
const checkTimeout = 3 * time.Minute

// checkAll is the final gate: every Package Ready, every HelmRelease Ready, every Deployment
// Available (waited for, bounded), each failure named.
func checkAll(ctx context.Context, e *env, step progress.Step) error {
	// The releases' wait saw each Ready, but a platform that changed (a re-run with another
	// variant or tree) may still be removing or upgrading what it no longer declares, and a
	// Deployment becomes Available once its pods pass their readiness probes, a moment after
	// the releases it serves (Flux's own pod): the gate waits, bounded, until all hold.
	pkgs := &v1alpha1.PackageList{}
	hrs := &helmv2.HelmReleaseList{}
	deps := &appsv1.DeploymentList{}
	all := condition.Condition{Name: "every Package and HelmRelease Ready, every Deployment Available", Check: func(ctx context.Context) error {
		var errs []error
		if err := e.c.List(ctx, pkgs); err != nil {
			return fmt.Errorf("list Packages: %w", err)
		}
		for _, p := range pkgs.Items {
			if o := releasewait.ClassifyPackage(&p); o.State != releasewait.Ready {
				errs = append(errs, fmt.Errorf("Package %s not Ready: %s", p.Name, o.Detail()))
			}
		}
		if err := e.c.List(ctx, hrs); err != nil {
			return fmt.Errorf("list HelmReleases: %w", err)
		}
		for _, hr := range hrs.Items {
			if o := releasewait.Classify(&hr); o.State != releasewait.Ready {
				errs = append(errs, fmt.Errorf("HelmRelease %s/%s not Ready: %s", hr.Namespace, hr.Name, o.Detail()))
			}
		}
		if err := e.c.List(ctx, deps); err != nil {
			return fmt.Errorf("list Deployments: %w", err)
		}
		for _, d := range deps.Items {
			if ok, why := deploymentAvailable(&d); !ok {
				errs = append(errs, fmt.Errorf("Deployment %s/%s not Available: %s", d.Namespace, d.Name, why))
			}
		}
		return errors.Join(errs...)
	}}
	var errs []error
	if err := condition.Wait(ctx, all, condition.Poll{Interval: 500 * time.Millisecond, Timeout: e.bound(checkTimeout)}, condition.StepReporter(step)); err != nil {
		errs = append(errs, err)
	}
	relaxed, err := relaxedWebhooks(ctx, e.c)
	if err != nil {
		return err
	}
	e.relaxed = relaxed
	step.Status("%d Packages, %d HelmReleases, %d Deployments", len(pkgs.Items), len(hrs.Items), len(deps.Items))
	for _, r := range relaxed {
		step.Status("webhook set to failurePolicy Ignore by the lab (its pods are simulated): %s", r)
	}
	if len(pkgs.Items) == 0 || len(hrs.Items) == 0 {
		errs = append(errs, fmt.Errorf("found %d Packages and %d HelmReleases: the platform installed nothing", len(pkgs.Items), len(hrs.Items)))
	}
	return errors.Join(errs...)
}

// relaxedWebhooks lists the webhook configurations the lab set to failurePolicy Ignore, with
// the webhooks it relaxed (their annotation), so a run that passed thanks to them says so.
func relaxedWebhooks(ctx context.Context, c client.Client) ([]string, error) {
	var out []string
	for _, list := range []client.ObjectList{&admissionv1.ValidatingWebhookConfigurationList{}, &admissionv1.MutatingWebhookConfigurationList{}} {
		if err := c.List(ctx, list); err != nil {
			return nil, fmt.Errorf("list webhook configurations: %w", err)
		}
		kind := strings.TrimSuffix(reflect.TypeOf(list).Elem().Name(), "List")
		if err := meta.EachListItem(list, func(o runtime.Object) error {
			obj := o.(client.Object)
			if hooks := obj.GetAnnotations()[webhooks.Annotation]; hooks != "" {
				out = append(out, fmt.Sprintf("%s %s: %s", kind, obj.GetName(), hooks))
			}
			return nil
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}
