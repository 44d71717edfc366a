package e2e

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/releasewait"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// waitReleases waits for every HelmRelease the platform creates, then for every Package to
// report Ready (which covers releases a Package has not created yet when the first wait ends).
func waitReleases(ctx context.Context, e *env, step progress.Step) error {
	start := time.Now()
	res, err := releasewait.Wait(ctx, e.cfg, releasewait.Options{
		MinReleases: 2, FailAfter: orDefault(e.o.FailAfter, 3*time.Minute), Timeout: orDefault(e.o.ReleaseTimeout, 15*time.Minute), Step: step,
	})
	if err != nil {
		return err
	}
	if err := waitPackagesReady(ctx, e, step, 5*time.Minute); err != nil {
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

// waitPackagesReady watches Packages until every one is Ready.
func waitPackagesReady(ctx context.Context, e *env, step progress.Step, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	notReady := map[string]string{}
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l := &v1alpha1.PackageList{}
			return l, e.c.List(ctx, l)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return e.c.Watch(ctx, &v1alpha1.PackageList{}, &clientListOptions{raw: o})
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &v1alpha1.Package{}, nil, func(ev watch.Event) (bool, error) {
		p, ok := ev.Object.(*v1alpha1.Package)
		if !ok {
			return false, nil
		}
		delete(notReady, p.Name)
		if ready, why := readyCondition(p.Status.Conditions); !ready && ev.Type != watch.Deleted {
			notReady[p.Name] = why
		}
		step.Status("Packages not Ready: %d", len(notReady))
		return len(notReady) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("every Package Ready within %s: %s not Ready", timeout, describe(notReady))
	}
	return nil
}

func describe(m map[string]string) string {
	var out []string
	for k, v := range m {
		out = append(out, fmt.Sprintf("%s (%s)", k, v))
	}
	sort.Strings(out)
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return strings.Join(out, ", ")
}

// checkAll is the final gate: every Package Ready, every HelmRelease Ready, every Deployment
// Available, each failure named.
func checkAll(ctx context.Context, e *env, step progress.Step) error {
	var errs []error
	pkgs := &v1alpha1.PackageList{}
	if err := e.c.List(ctx, pkgs); err != nil {
		return fmt.Errorf("list Packages: %w", err)
	}
	for _, p := range pkgs.Items {
		if ok, why := readyCondition(p.Status.Conditions); !ok {
			errs = append(errs, fmt.Errorf("Package %s not Ready: %s", p.Name, why))
		}
	}
	hrs := &helmv2.HelmReleaseList{}
	if err := e.c.List(ctx, hrs); err != nil {
		return fmt.Errorf("list HelmReleases: %w", err)
	}
	for _, hr := range hrs.Items {
		if o := releasewait.Classify(&hr); o.State != releasewait.Ready {
			errs = append(errs, fmt.Errorf("HelmRelease %s/%s not Ready: %s", hr.Namespace, hr.Name, o.Detail()))
		}
	}
	deps := &appsv1.DeploymentList{}
	if err := e.c.List(ctx, deps); err != nil {
		return fmt.Errorf("list Deployments: %w", err)
	}
	for _, d := range deps.Items {
		if ok, why := deploymentAvailable(&d); !ok {
			errs = append(errs, fmt.Errorf("Deployment %s/%s not Available: %s", d.Namespace, d.Name, why))
		}
	}
	step.Status("%d Packages, %d HelmReleases, %d Deployments", len(pkgs.Items), len(hrs.Items), len(deps.Items))
	if len(pkgs.Items) == 0 || len(hrs.Items) == 0 {
		errs = append(errs, fmt.Errorf("found %d Packages and %d HelmReleases: the platform installed nothing", len(pkgs.Items), len(hrs.Items)))
	}
	return errors.Join(errs...)
}
