//go:build integration

package packages

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authzv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
)

// platformServer starts an API server with the cozystack and Flux CRDs, the platform namespace
// and the operator's source OCIRepository cozy-system/cozystack-platform, as the operator
// leaves them before the platform is installed.
func platformServer(t *testing.T) (*rest.Config, client.Client, *unstructured.Unstructured) {
	t.Helper()
	ctx := context.Background()
	cfg := cptest.Config(t)
	c, err := client.New(cfg, client.Options{})
	require.NoError(t, err)
	var crds []*unstructured.Unstructured
	for _, dir := range crdDirs {
		crds = append(crds, parseDir(t, dir)...)
	}
	createAll(ctx, t, c, crds)
	waitEstablished(ctx, t, c, crds)
	ensureNamespace(ctx, t, c, platformNamespace)

	src := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "source.toolkit.fluxcd.io/v1",
		"kind":       "OCIRepository",
		"metadata":   map[string]any{"name": "cozystack-platform", "namespace": platformNamespace},
		"spec": map[string]any{
			"url":       "oci://registry.example.org/cozystack-packages",
			"ref":       map[string]any{"tag": "v0.1.0"},
			"interval":  "5m",
			"secretRef": map[string]any{"name": "registry-credentials"},
		},
	}}
	require.NoError(t, c.Create(ctx, src))
	return cfg, c, src
}

// setVersion writes the platform version record, as a previous install or a migration left it.
func setVersion(ctx context.Context, t *testing.T, c client.Client, version string) {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cozystack-version", Namespace: platformNamespace}}
	err := c.Get(ctx, client.ObjectKeyFromObject(cm), cm)
	cm.Data = map[string]string{"version": version}
	if apierrors.IsNotFound(err) {
		require.NoError(t, c.Create(ctx, cm))
		return
	}
	require.NoError(t, err)
	require.NoError(t, c.Update(ctx, cm))
}

// TestPlatformOnAPIServer renders every variant with `lookup` answered by a real API server and
// dry-run creates every object: the source copy carries the operator's spec verbatim, and the
// migration hook appears exactly when the recorded version is below the target.
func TestPlatformOnAPIServer(t *testing.T) {
	ctx := context.Background()
	cfg, c, src := platformServer(t)
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(src), src))
	wantSpec := src.Object["spec"]

	check := func(t *testing.T, v platformVariant, wantJob bool) {
		objs, err := renderPlatform(v, nil, cfg)
		require.NoError(t, err)
		repo := objectsOfKind(objs, "OCIRepository")["cozystack-packages"]
		require.NotNil(t, repo, "cozystack-packages is copied from the operator's source")
		assert.Equal(t, wantSpec, repo.Object["spec"])
		assert.Equal(t, "true", repo.GetLabels()["platform.cozystack.io/no-delete"])
		assert.Equal(t, wantJob, len(objectsOfKind(objs, "Job")) == 1, "migration Job rendered")
		for _, o := range objs {
			assert.NoError(t, dryRun(ctx, t, c, o, platformNamespace), "%s %s/%s", o.GetKind(), o.GetNamespace(), o.GetName())
		}
	}

	t.Run("fresh install", func(t *testing.T) {
		for _, v := range platformVariants {
			t.Run(v.name, func(t *testing.T) {
				check(t, v, false)
				objs, err := renderPlatform(v, nil, cfg)
				require.NoError(t, err)
				assert.Contains(t, objectsOfKind(objs, "ConfigMap"), "cozystack-version")
			})
		}
	})
	t.Run("behind the target", func(t *testing.T) {
		setVersion(ctx, t, c, "1")
		for _, v := range platformVariants {
			t.Run(v.name, func(t *testing.T) {
				check(t, v, v.name != "default") // the default variant has migrations off
				objs, err := renderPlatform(v, nil, cfg)
				require.NoError(t, err)
				assert.NotContains(t, objectsOfKind(objs, "ConfigMap"), "cozystack-version", "the record belongs to the migrations now")
				for _, job := range objectsOfKind(objs, "Job") {
					env, _, _ := unstructured.NestedSlice(job.Object, "spec", "template", "spec", "containers")
					require.Len(t, env, 1)
					assert.Contains(t, env[0].(map[string]any)["args"], "migrate")
				}
			})
		}
	})
	t.Run("at the target", func(t *testing.T) {
		setVersion(ctx, t, c, "3")
		check(t, platformVariants[1], false)
	})
}

// TestMigrationHookRBAC creates the hook's RBAC for real and asks the API server's authorizer
// what its ServiceAccount may do: everything the migrations do, and nothing next to it.
func TestMigrationHookRBAC(t *testing.T) {
	ctx := context.Background()
	cfg, c, _ := platformServer(t)
	setVersion(ctx, t, c, "1")
	objs, err := renderPlatform(platformVariants[1], nil, cfg)
	require.NoError(t, err)
	for _, kind := range []string{"ServiceAccount", "Role", "RoleBinding", "ClusterRole", "ClusterRoleBinding"} {
		rbac := objectsOfKind(objs, kind)["cozystack-migration-hook"]
		require.NotNil(t, rbac, kind)
		if rbac.GetNamespace() == "" && kind != "ClusterRole" && kind != "ClusterRoleBinding" {
			rbac.SetNamespace(platformNamespace)
		}
		require.NoError(t, c.Create(ctx, rbac), kind)
	}
	user := "system:serviceaccount:" + platformNamespace + ":cozystack-migration-hook"
	type access struct {
		group, resource, ns, name, verb string
		allowed                         bool
	}
	tests := []access{
		{"", "configmaps", platformNamespace, "cozystack-version", "get", true},
		{"", "configmaps", platformNamespace, "cozystack-version", "update", true},
		{"", "configmaps", platformNamespace, "cozystack-version", "patch", true},
		{"", "configmaps", platformNamespace, "", "create", true},
		{"", "namespaces", "", platformNamespace, "get", true},
		{"", "namespaces", "", platformNamespace, "patch", true},
		{"helm.toolkit.fluxcd.io", "helmreleases", "", "", "list", true},
		{"helm.toolkit.fluxcd.io", "helmreleases", "tenant-a", "x", "get", true},
		{"helm.toolkit.fluxcd.io", "helmreleases", "tenant-a", "x", "patch", true},
		{"", "configmaps", platformNamespace, "cozystack-version", "delete", false},
		{"", "configmaps", platformNamespace, "other", "update", false},
		{"", "configmaps", "tenant-a", "", "create", false},
		{"", "secrets", platformNamespace, "cozystack-values", "get", false},
		{"", "namespaces", "", "tenant-a", "patch", false},
		{"", "namespaces", "", platformNamespace, "delete", false},
		{"helm.toolkit.fluxcd.io", "helmreleases", "tenant-a", "x", "delete", false},
		{"helm.toolkit.fluxcd.io", "helmreleases", "tenant-a", "", "create", false},
	}
	for _, tt := range tests {
		sar := &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
			User:   user,
			Groups: []string{"system:serviceaccounts", "system:serviceaccounts:" + platformNamespace, "system:authenticated"},
			ResourceAttributes: &authzv1.ResourceAttributes{
				Group: tt.group, Resource: tt.resource, Namespace: tt.ns, Name: tt.name, Verb: tt.verb,
			},
		}}
		require.NoError(t, c.Create(ctx, sar))
		assert.Equal(t, tt.allowed, sar.Status.Allowed, "%s %s %s/%s", tt.verb, tt.resource, tt.ns, tt.name)
	}
}

// TestDeletionGuard installs the platform's admission policy and binding and checks that a
// labelled object cannot be deleted until the label is removed, while others delete freely.
func TestDeletionGuard(t *testing.T) {
	ctx := context.Background()
	_, c, _ := platformServer(t)
	objs, rerr := renderPlatform(platformVariants[0], offline, nil)
	require.NoError(t, rerr)
	for _, kind := range []string{"ValidatingAdmissionPolicy", "ValidatingAdmissionPolicyBinding"} {
		o := objectsOfKind(objs, kind)["cozystack-deletion-guard"]
		require.NotNil(t, o, kind)
		require.NoError(t, c.Create(ctx, o), kind)
	}

	protected := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "protected", Namespace: platformNamespace,
		Labels: map[string]string{"platform.cozystack.io/no-delete": "true"}}}
	require.NoError(t, c.Create(ctx, protected))
	// The policy takes effect once the API server has loaded it: poll with dry-run deletes (they
	// pass admission too) so nothing is lost before then.
	var err error
	require.Eventually(t, func() bool {
		err = c.Delete(ctx, protected, client.DryRunAll)
		return apierrors.IsForbidden(err) || apierrors.IsInvalid(err)
	}, 20*time.Second, 100*time.Millisecond, "the deletion guard never refused a protected object")

	err = c.Delete(ctx, protected)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "remove the label first")
	assert.Contains(t, err.Error(), "--namespace "+platformNamespace)

	free := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "free", Namespace: platformNamespace}}
	require.NoError(t, c.Create(ctx, free))
	assert.NoError(t, c.Delete(ctx, free), "unlabelled objects delete freely")

	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(protected), protected))
	delete(protected.Labels, "platform.cozystack.io/no-delete")
	require.NoError(t, c.Update(ctx, protected))
	assert.NoError(t, c.Delete(ctx, protected), "without the label the object deletes")
}
