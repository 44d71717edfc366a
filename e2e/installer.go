package e2e

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/storage/driver"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"

	"github.com/cozylab/cozylab/internal/progress"
)

// The installer's Helm release.
const (
	InstallerRelease  = "installer"
	InstallerNS       = "cozy-system"
	installerTimeout  = 2 * time.Minute
	platformSourceRef = "cozystack-platform"
)

// LabRequeueDependency is the --requeue-dependency of the lab's Flux (installer value
// fluxRequeueDependency): how soon a release waiting on another is checked again.
const LabRequeueDependency = 5 * time.Second

// Leader election timings of the operator (controller-runtime's defaults): on a lab slower than
// native they are scaled by its pace, as a leader that cannot renew in time exits.
const (
	leaseDuration = 15 * time.Second
	renewDeadline = 10 * time.Second
	retryPeriod   = 2 * time.Second
)

// installerValues points the chart at what pushArtifacts pushed.
func installerValues(e *env) map[string]any {
	op := map[string]any{
		"variant":                e.o.Lab.OperatorVariant(),
		"image":                  e.pushed.operatorImage,
		"platformSourceName":     platformSourceRef,
		"platformSourceUrl":      fmt.Sprintf("oci://%s/%s", e.pushed.registry, PackagesRepo),
		"platformSourceRef":      "digest=" + e.pushed.packagesDigest,
		"platformSourceInsecure": true,
		"helmReleaseInterval":    "30s",
		// Releases wait on each other in chains; with Flux's 30s each link may idle that long
		// after its dependency is Ready.
		"fluxRequeueDependency": LabRequeueDependency.String(),
	}
	if e.pace() > 1 {
		op["leaderElectLeaseDuration"] = e.bound(leaseDuration).String()
		op["leaderElectRenewDeadline"] = e.bound(renewDeadline).String()
		op["leaderElectRetryPeriod"] = e.bound(retryPeriod).String()
	}
	return map[string]any{"cozystackOperator": op}
}

// installInstaller installs or upgrades the installer chart with the Helm SDK (helm upgrade
// --install). An upgrade with unchanged values changes no object, so a re-run is harmless.
func installInstaller(ctx context.Context, e *env, step progress.Step) error {
	if err := ensureNamespace(ctx, e); err != nil {
		return err
	}
	kubeconfig, ns := e.o.Lab.Kubeconfig(), InstallerNS
	cfg := new(action.Configuration)
	flags := &genericclioptions.ConfigFlags{KubeConfig: &kubeconfig, Namespace: &ns}
	if err := cfg.Init(flags, ns, "secret", func(string, ...any) {}); err != nil {
		return fmt.Errorf("set up Helm: %w", err)
	}
	ch, err := loader.Load(e.o.installerDir())
	if err != nil {
		return fmt.Errorf("load the installer chart %s: %w", e.o.installerDir(), err)
	}
	vals := installerValues(e)
	_, err = action.NewHistory(cfg).Run(InstallerRelease)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		step.Status("helm install %s", InstallerRelease)
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace, in.Timeout = InstallerRelease, ns, e.bound(installerTimeout)
		_, err = in.RunWithContext(ctx, ch, vals)
		if err != nil {
			return fmt.Errorf("install the installer chart: %w", err)
		}
		return nil
	} else if err != nil {
		return fmt.Errorf("read the installer's release history: %w", err)
	}
	step.Status("helm upgrade %s", InstallerRelease)
	up := action.NewUpgrade(cfg)
	up.Namespace, up.Timeout, up.ResetValues, up.MaxHistory = ns, e.bound(installerTimeout), true, 5
	if _, err := up.RunWithContext(ctx, InstallerRelease, ch, vals); err != nil {
		return fmt.Errorf("upgrade the installer chart: %w", err)
	}
	return nil
}

// ensureNamespace creates cozy-system ahead of Helm, which keeps its release record there and
// so needs it before the chart creates it; the ownership metadata lets the chart's own
// Namespace object adopt it.
func ensureNamespace(ctx context.Context, e *env) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
		Name:        InstallerNS,
		Labels:      map[string]string{"app.kubernetes.io/managed-by": "Helm"},
		Annotations: map[string]string{"meta.helm.sh/release-name": InstallerRelease, "meta.helm.sh/release-namespace": InstallerNS},
	}}
	if err := e.c.Create(ctx, ns); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", InstallerNS, err)
	}
	return nil
}
