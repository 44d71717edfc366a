//go:build integration

package releasewait

import (
	"context"
	"errors"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
)

// TestWaitKeepGoing plays helm-controller for three releases that end blocked in three classes
// — one failing by itself, one stalled on a webhook the lab cannot call, one waiting on the
// failing one — and a fourth that is still installing. Keep-going mode waits for the fourth
// only, then returns every blocker, classified, long before its own timeout.
func TestWaitKeepGoing(t *testing.T) {
	cfg := cptest.Config(t)
	installPackageCRD(t, cfg)
	installHelmReleaseCRD(t, cfg)
	c := newClient(t, cfg)
	ns := namespace(t, c, "keepgoing")

	createRelease(t, c, ns, "ready", nil)
	setReady(t, c, ns, "ready", metav1.ConditionTrue, helmv2.InstallSucceededReason, "")
	createRelease(t, c, ns, "broken", nil)
	setReady(t, c, ns, "broken", metav1.ConditionFalse, helmv2.InstallFailedReason, "Helm install failed: template: boom")
	createRelease(t, c, ns, "hook", nil)
	webhook := `Helm install failed: Internal error occurred: failed calling webhook "validate.x.io": failed to call webhook: ` +
		`Post "https://x-webhook.` + ns + `.svc:443/validate?timeout=10s": no endpoints available for service "x-webhook"`
	setConditions(t, c, ns, "hook",
		condition(meta.ReadyCondition, metav1.ConditionFalse, helmv2.InstallFailedReason, webhook),
		condition(meta.StalledCondition, metav1.ConditionTrue, "RetriesExceeded", webhook))
	createReleaseDependingOn(t, c, ns, "app", "broken")
	setReady(t, c, ns, "app", metav1.ConditionFalse, helmv2.DependencyNotReadyReason, "dependency '"+ns+"/broken' is not ready")
	createRelease(t, c, ns, "slow", nil) // helm-controller has not reached it: it may still progress

	w := startWait(t, cfg, Options{Namespace: ns, KeepGoing: true, FailAfter: 300 * time.Millisecond, Timeout: 10 * time.Minute})
	// broken has failed for FailAfter: every release but slow is blocked, and slow holds the wait.
	w.await(t, "HelmReleases ready 1/5, 3 blocked — waiting on "+ns+"/slow: NotReconciled")
	w.requireRunning(t)

	setReady(t, c, ns, "slow", metav1.ConditionTrue, helmv2.InstallSucceededReason, "")
	res, err := w.result(t)
	require.EqualError(t, err, "wait for HelmReleases: 3 not Ready: 1 failed, 1 waiting on a dependency, 1 blocked by a lab limit")
	assert.False(t, errors.Is(err, context.DeadlineExceeded), "ended because nothing more could progress")
	assert.Equal(t, []string{"HelmReleases ready 2/5, 3 blocked — nothing more can progress"}, w.rest(),
		"slow's Ready event ended the wait")

	require.Len(t, res.Blockers, 3)
	broken, app, hook := res.Blockers[0], res.Blockers[1], res.Blockers[2]
	assert.Equal(t, []string{ns + "/broken", ns + "/app", ns + "/hook"}, []string{broken.Key(), app.Key(), hook.Key()})
	assert.Equal(t, ClassFailed, broken.Class)
	assert.Regexp(t, `^failing for [0-9.]+m?s: InstallFailed: Helm install failed: template: boom$`, broken.Summary())
	assert.Equal(t, ClassWaitingOnDependency, app.Class)
	assert.Equal(t, ns+"/broken", app.Dependency)
	assert.Equal(t, ns+"/broken", app.Root)
	assert.Equal(t, ClassLabLimit, hook.Class)
	assert.Equal(t, LimitWebhook, hook.Limit)
	assert.Equal(t, Counts{Failed: 1, WaitingOnDependency: 1, LabLimit: 1}, res.Counts)
	assert.Empty(t, res.Unfinished)
	var ready []string
	for _, r := range res.Releases {
		ready = append(ready, r.Name)
	}
	assert.ElementsMatch(t, []string{"ready", "slow"}, ready)
}

// createReleaseDependingOn creates a release whose spec.dependsOn names dep in its own namespace.
func createReleaseDependingOn(t *testing.T, c client.Client, ns, name, dep string) {
	hr := &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: helmv2.HelmReleaseSpec{
			Interval:  metav1.Duration{Duration: time.Minute},
			ChartRef:  &helmv2.CrossNamespaceSourceReference{Kind: "OCIRepository", Name: name},
			DependsOn: []helmv2.DependencyReference{{Name: dep}},
		},
	}
	require.NoError(t, c.Create(t.Context(), hr))
}
