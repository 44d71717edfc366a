//go:build integration

package e2e

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/internal/release"
	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/state"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// The annotation migration 2 renames (operator/internal/migrate, not importable from here).
const legacyValuesFiles = "cozypkg.cozystack.io/values-files"

// denyMigration is an admission policy under which the migration hook may not change any
// HelmRelease: migration 2 fails on the API server's refusal, as a real migration fails on a
// cluster that refuses its write.
var denyMigration = []client.Object{
	&admissionv1.ValidatingAdmissionPolicy{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicy"},
		ObjectMeta: metav1.ObjectMeta{Name: "cozylab-e2e-deny-migration"},
		Spec: admissionv1.ValidatingAdmissionPolicySpec{
			FailurePolicy: ptr.To(admissionv1.Fail),
			MatchConstraints: &admissionv1.MatchResources{ResourceRules: []admissionv1.NamedRuleWithOperations{{
				RuleWithOperations: admissionv1.RuleWithOperations{
					Operations: []admissionv1.OperationType{admissionv1.Update},
					Rule:       admissionv1.Rule{APIGroups: []string{"helm.toolkit.fluxcd.io"}, APIVersions: []string{"*"}, Resources: []string{"helmreleases"}},
				},
			}}},
			Validations: []admissionv1.Validation{{
				Expression: `request.userInfo.username != "system:serviceaccount:cozy-system:` + migrationHookJob + `"`,
				Message:    "the e2e test forbids the migration to change HelmReleases",
			}},
		},
	},
	&admissionv1.ValidatingAdmissionPolicyBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "ValidatingAdmissionPolicyBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: "cozylab-e2e-deny-migration"},
		Spec: admissionv1.ValidatingAdmissionPolicyBindingSpec{
			PolicyName: "cozylab-e2e-deny-migration", ValidationActions: []admissionv1.ValidationAction{admissionv1.Deny},
		},
	},
}

// TestLocalE2EUpgrade runs the upgrade lane on the local provider from the last release
// (release.json) to the working tree, on a platform staged as version 1 (cozystack-version, a
// HelmRelease with the annotation migration 2 renames), so the upgrade's hook runs real
// migrations in a real pod. A policy makes migration 2 fail: the upgrade fails naming it, the
// platform stays at version 2 with its HelmReleases untouched; once the policy is gone a re-run
// resumes at migration 2, and the checks pass: each migration ran once, nothing was lost.
func TestLocalE2EUpgrade(t *testing.T) {
	ctx := context.Background()
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	root := t.TempDir()
	if os.Getenv("COZYLAB_KEEP_FAILED_LAB") != "" {
		root, err = os.MkdirTemp("", "cozylab-upgrade-test-") // outlives the test
		require.NoError(t, err)
	}
	lab := local.New(root, state.Request{Name: "upgrade", Provider: local.ProviderName, RepoRoot: repo})
	t.Cleanup(func() {
		if t.Failed() && os.Getenv("COZYLAB_KEEP_FAILED_LAB") != "" {
			t.Logf("COZYLAB_KEEP_FAILED_LAB is set: the lab stays for inspection (KUBECONFIG=%s)", lab.Kubeconfig())
			return
		}
		require.NoError(t, lab.Down(context.WithoutCancel(ctx), progress.Discard))
		assertNothingLeft(t, lab.Dir())
	})
	last, err := release.Load(repo)
	require.NoError(t, err)

	var staged map[string]string // HelmRelease → UID, as staged before the upgrade
	var annotated string
	stage := func(ctx context.Context, c client.Client) error {
		cm := &corev1.ConfigMap{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: InstallerNS, Name: "cozystack-version"}, cm))
		cm.Data["version"] = "1"
		delete(cm.Labels, v1alpha1.LabelNoDelete) // migration 1 labels it again
		require.NoError(t, c.Update(ctx, cm))
		hrs := &helmv2.HelmReleaseList{}
		require.NoError(t, c.List(ctx, hrs, client.HasLabels{v1alpha1.LabelPackage}))
		require.NotEmpty(t, hrs.Items)
		staged = map[string]string{}
		for _, hr := range hrs.Items {
			staged[hr.Namespace+"/"+hr.Name] = string(hr.UID)
		}
		hr := hrs.Items[0]
		annotated = hr.Namespace + "/" + hr.Name
		patch := client.MergeFrom(hr.DeepCopy())
		if hr.Annotations == nil {
			hr.Annotations = map[string]string{}
		}
		hr.Annotations[legacyValuesFiles] = "values.yaml"
		require.NoError(t, c.Patch(ctx, &hr, patch))
		for _, o := range denyMigration {
			require.NoError(t, c.Patch(ctx, o, client.Apply, client.FieldOwner("cozylab-e2e-test"), client.ForceOwnership))
		}
		return nil
	}
	rec := &progress.Recorder{}
	opts := UpgradeOptions{
		Options: Options{RepoRoot: "..", Lab: lab, Variant: "default", ReportDir: t.TempDir(), Progress: rec,
			// A change to the platform chart, so the upgrade really upgrades its release and its
			// pre-upgrade hook runs the migrations.
			Overlay:        map[string][]byte{"core/platform/upgrade-marker.txt": []byte("changed by the upgrade test\n")},
			ReleaseTimeout: 10 * time.Minute},
		BeforeUpgrade:    stage,
		UpgradeFailAfter: 30 * time.Second,
	}

	res, err := Upgrade(ctx, opts)
	require.Error(t, err, "migration 2 is refused by the policy")
	assert.Equal(t, last.Version, res.From.Name, "the default start is the last release")
	assert.Contains(t, err.Error(), "migration 2 → 3", "the report names the failed migration")
	assert.Contains(t, err.Error(), "the e2e test forbids the migration to change HelmReleases", "and its error")
	require.Len(t, res.Migrations, 1, "%v", res.Migrations)
	assert.True(t, strings.HasPrefix(res.Migrations[0], "1 → 2"), res.Migrations)
	c, err := client.New(mustConfig(t, lab), client.Options{Scheme: scheme()})
	require.NoError(t, err)
	cm := &corev1.ConfigMap{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: InstallerNS, Name: "cozystack-version"}, cm))
	assert.Equal(t, "2", cm.Data["version"], "the platform stays at the failed migration's version")
	assert.Equal(t, "true", cm.Labels[v1alpha1.LabelNoDelete], "migration 1's effect")
	hrs := &helmv2.HelmReleaseList{}
	require.NoError(t, c.List(ctx, hrs, client.HasLabels{v1alpha1.LabelPackage}))
	for _, hr := range hrs.Items {
		key := hr.Namespace + "/" + hr.Name
		assert.Equal(t, staged[key], string(hr.UID), "HelmRelease %s untouched", key)
		if key == annotated {
			assert.Contains(t, hr.Annotations, legacyValuesFiles, "migration 2 did not get to change it")
		}
	}

	for _, o := range denyMigration {
		require.NoError(t, c.Delete(ctx, o))
	}
	rec = &progress.Recorder{}
	opts.Progress = rec
	res, err = Upgrade(ctx, opts)
	require.NoError(t, err, "the re-run resumes at migration 2; diagnostics: %s", res.Diagnostics)
	assert.True(t, slices.ContainsFunc(rec.Records(), func(r progress.Record) bool {
		return strings.HasPrefix(r.Title, "Installing ") && r.Outcome == progress.Skipped && strings.Contains(r.Note, "resuming")
	}), "the install is not done again: %v", rec.Records())
	require.Len(t, res.Migrations, 2, "%v", res.Migrations)
	assert.True(t, strings.HasPrefix(res.Migrations[0], "1 → 2"), res.Migrations)
	assert.True(t, strings.HasPrefix(res.Migrations[1], "2 → 3"), res.Migrations)
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: InstallerNS, Name: "cozystack-version"}, cm))
	assert.Equal(t, "3", cm.Data["version"])
	hr := &helmv2.HelmRelease{}
	ns, name, _ := strings.Cut(annotated, "/")
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, hr))
	assert.NotContains(t, hr.Annotations, legacyValuesFiles, "migration 2's effect: the legacy annotation is gone")
	assert.Contains(t, hr.Annotations, v1alpha1.AnnotationValuesFiles)
	assert.Contains(t, res.Kept, annotated)
	assert.Equal(t, len(staged), len(res.Kept)+len(res.Removed))
	assert.NotEmpty(t, res.Upgrade.OperatorImage)
	require.Error(t, c.Get(ctx, client.ObjectKey{Namespace: InstallerNS, Name: upgradeStateName}, &corev1.ConfigMap{}),
		"a passed upgrade leaves no state behind")
}

// TestUpgradeRefusesADowngrade: a start newer than the working tree — a later release, or a
// platform version the tree's migrations do not reach — is refused before anything changes:
// no lab is made.
func TestUpgradeRefusesADowngrade(t *testing.T) {
	repo, err := filepath.Abs("..")
	require.NoError(t, err)
	last, err := release.Load(repo)
	require.NoError(t, err)
	tree := func(releaseJSON string, target string) string {
		dir := t.TempDir()
		if releaseJSON != "" {
			require.NoError(t, os.WriteFile(filepath.Join(dir, release.File), []byte(releaseJSON), 0o644))
		}
		require.NoError(t, os.MkdirAll(filepath.Join(dir, "packages", "core", "platform"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, "packages", "core", "platform", "values.yaml"),
			[]byte("migrations:\n  targetVersion: "+target+"\n"), 0o644))
		return dir
	}
	for name, tc := range map[string]struct {
		from string
		want []string
	}{
		"a later release": {tree(`{"version": "v99.0.0"}`, "3"),
			[]string{"refusing a downgrade", "release v99.0.0, newer than the working tree's " + last.Version, "nothing was changed"}},
		"a newer platform version": {tree("", "9"),
			[]string{"refusing a downgrade", "brings platform version 9, the working tree only 3"}},
	} {
		t.Run(name, func(t *testing.T) {
			lab := local.New(t.TempDir(), state.Request{Name: "downgrade", Provider: local.ProviderName, RepoRoot: repo})
			_, err := Upgrade(t.Context(), UpgradeOptions{
				Options:  Options{RepoRoot: "..", Lab: lab, ReportDir: t.TempDir()},
				FromTree: tc.from,
			})
			require.Error(t, err)
			for _, w := range tc.want {
				assert.Contains(t, err.Error(), w)
			}
			_, statErr := os.Stat(lab.Dir())
			assert.True(t, os.IsNotExist(statErr), "no lab was made: %v", statErr)
		})
	}
}
