package packageloop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/progress"
)

// fieldOwner is the field manager of the loop's own patches to the HelmRelease.
const fieldOwner = client.FieldOwner("cozylab-pkg")

// Show renders the chart as helm-controller would install it for the HelmRelease: the objects
// (with origin labels) followed by the hooks.
func Show(ctx context.Context, opts Options) (string, error) {
	s, err := open(ctx, opts)
	if err != nil {
		return "", err
	}
	cfg, err := s.helmConfig()
	if err != nil {
		return "", err
	}
	r, err := s.render(ctx, cfg)
	if err != nil {
		return "", err
	}
	return r.Manifest(), nil
}

// Suspend stops Flux from reconciling the HelmRelease (spec.suspend=true).
func Suspend(ctx context.Context, opts Options) error {
	s, err := open(ctx, opts)
	if err != nil {
		return err
	}
	return s.patchHR(ctx, map[string]any{"spec": map[string]any{"suspend": true}})
}

// Resume hands the HelmRelease back to Flux: it clears spec.suspend and requests a reconcile
// (annotation reconcile.fluxcd.io/requestedAt, what `flux reconcile` does).
//
// status.history is left alone: helm-controller owns it, and a snapshot written from outside
// relies on controller internals (snapshot digests changed with its move to Helm v4). The
// controller therefore sees the release Apply made as one it did not observe and upgrades it
// once from the HelmRelease; because Apply composed the values from that same HelmRelease, the
// upgrade renders the same objects and changes nothing but the revision number.
func Resume(ctx context.Context, opts Options) error {
	s, err := open(ctx, opts)
	if err != nil {
		return err
	}
	return s.patchHR(ctx, map[string]any{
		"metadata": map[string]any{"annotations": map[string]any{
			meta.ReconcileRequestAnnotation: time.Now().UTC().Format(time.RFC3339Nano),
		}},
		"spec": map[string]any{"suspend": nil},
	})
}

// Apply suspends the HelmRelease, then installs or upgrades its release from the local chart
// the way helm-controller would: same values, release name, namespaces, origin labels, history
// limit, and release Secrets in the storage namespace.
func Apply(ctx context.Context, opts Options, rep progress.Reporter) (*release.Release, error) {
	s, err := open(ctx, opts)
	if err != nil {
		return nil, err
	}
	step := rep.Begin(fmt.Sprintf("Suspending HelmRelease %s/%s", s.hr.Namespace, s.hr.Name))
	if err := step.Done(s.patchHR(ctx, map[string]any{"spec": map[string]any{"suspend": true}})); err != nil {
		return nil, err
	}
	cfg, err := s.helmConfig()
	if err != nil {
		return nil, err
	}
	ch, vals, last, err := s.prepare(ctx, cfg)
	if err != nil {
		return nil, err
	}
	labels := labeler{labels: OriginLabels(s.hr)}
	if last == nil {
		step = rep.Begin(fmt.Sprintf("Installing %s/%s", s.target.Namespace, s.target.ReleaseName))
		in := s.hr.GetInstall()
		install := action.NewInstall(cfg)
		install.ReleaseName, install.Namespace = s.target.ReleaseName, s.target.Namespace
		install.PostRenderer = labels
		install.CreateNamespace = in.CreateNamespace
		install.DisableHooks = in.DisableHooks
		install.Wait = !in.DisableWait
		install.Timeout = s.hr.GetTimeout().Duration
		rel, err := install.RunWithContext(ctx, ch, vals)
		return rel, step.Done(wrapRelease("install", s.target, err))
	}
	step = rep.Begin(fmt.Sprintf("Upgrading %s/%s (revision %d)", s.target.Namespace, s.target.ReleaseName, last.Version+1))
	up := s.hr.GetUpgrade()
	upgrade := action.NewUpgrade(cfg)
	upgrade.Namespace = s.target.Namespace
	upgrade.PostRenderer = labels
	upgrade.ResetValues = !up.PreserveValues
	upgrade.ReuseValues = up.PreserveValues
	upgrade.DisableHooks = up.DisableHooks
	upgrade.Force = up.Force
	upgrade.Wait = !up.DisableWait
	upgrade.MaxHistory = s.hr.GetMaxHistory()
	upgrade.Timeout = s.hr.GetTimeout().Duration
	rel, err := upgrade.RunWithContext(ctx, s.target.ReleaseName, ch, vals)
	return rel, step.Done(wrapRelease("upgrade", s.target, err))
}

// Delete suspends the HelmRelease and uninstalls its release; a release already gone is not
// an error.
func Delete(ctx context.Context, opts Options, rep progress.Reporter) error {
	s, err := open(ctx, opts)
	if err != nil {
		return err
	}
	step := rep.Begin(fmt.Sprintf("Suspending HelmRelease %s/%s", s.hr.Namespace, s.hr.Name))
	if err := step.Done(s.patchHR(ctx, map[string]any{"spec": map[string]any{"suspend": true}})); err != nil {
		return err
	}
	cfg, err := s.helmConfig()
	if err != nil {
		return err
	}
	step = rep.Begin(fmt.Sprintf("Uninstalling %s/%s", s.target.Namespace, s.target.ReleaseName))
	un := action.NewUninstall(cfg)
	un.Timeout = s.hr.GetTimeout().Duration
	_, err = un.Run(s.target.ReleaseName)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		step.Skip("no such release")
		return nil
	}
	return step.Done(wrapRelease("uninstall", s.target, err))
}

func wrapRelease(verb string, t Target, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s release %s/%s: %w", verb, t.Namespace, t.ReleaseName, err)
}

// patchHR merge-patches the HelmRelease.
func (s *session) patchHR(ctx context.Context, patch map[string]any) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return fmt.Errorf("encode patch: %w", err)
	}
	if err := s.client.Patch(ctx, s.hr, client.RawPatch(types.MergePatchType, data), fieldOwner); err != nil {
		return fmt.Errorf("patch HelmRelease %s/%s: %w", s.hr.Namespace, s.hr.Name, err)
	}
	return nil
}
