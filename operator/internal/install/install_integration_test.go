//go:build integration

package install

import (
	"context"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/crds"
	"github.com/cozylab/cozylab/operator/flux"
	fluxcrds "github.com/cozylab/cozylab/operator/flux/crds"
)

func testClient(t *testing.T) client.WithWatch {
	t.Helper()
	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, apiextensionsv1.AddToScheme(scheme))
	require.NoError(t, v1alpha1.AddToScheme(scheme))
	c, err := client.NewWithWatch(cptest.Config(t), client.Options{Scheme: scheme})
	require.NoError(t, err)
	return c
}

func TestCRDsInstallEstablishAndServe(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	require.NoError(t, CRDs(ctx, c, crds.FS, crds.Operator, time.Minute))

	for _, name := range []string{"packages.cozystack.io", "packagesources.cozystack.io"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		require.NoError(t, c.Get(ctx, client.ObjectKey{Name: name}, crd))
		assert.True(t, established(crd), name)
		assert.Equal(t, "true", crd.Labels[v1alpha1.LabelNoDelete], "the deletion guard label")
	}
	err := c.Get(ctx, client.ObjectKey{Name: "applicationdefinitions.cozystack.io"}, &apiextensionsv1.CustomResourceDefinition{})
	assert.True(t, apierrors.IsNotFound(err), "the ApplicationDefinition CRD ships with the packages, not the operator")

	// The API is served with its schema: a Package round-trips, a bad enum is refused.
	enabled := false
	pkg := &v1alpha1.Package{
		ObjectMeta: metav1.ObjectMeta{Name: "cozystack.demo"},
		Spec: v1alpha1.PackageSpec{Variant: "full", Components: map[string]v1alpha1.PackageComponent{
			"db": {Enabled: &enabled, Values: &apiextensionsv1.JSON{Raw: []byte(`{"replicas":2,"nested":{"a":"b"}}`)}},
		}},
	}
	require.NoError(t, c.Create(ctx, pkg))
	got := &v1alpha1.Package{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "cozystack.demo"}, got))
	assert.JSONEq(t, `{"replicas":2,"nested":{"a":"b"}}`, string(got.Spec.Components["db"].Values.Raw))
	assert.False(t, got.ComponentEnabled("db"))
	assert.True(t, got.ComponentEnabled("other"))

	bad := &v1alpha1.PackageSource{
		ObjectMeta: metav1.ObjectMeta{Name: "cozystack.bad"},
		Spec:       v1alpha1.PackageSourceSpec{SourceRef: &v1alpha1.PackageSourceRef{Kind: "HelmRepository", Name: "x", Namespace: "cozy-system"}},
	}
	err = c.Create(ctx, bad)
	require.Error(t, err)
	assert.Contains(t, err.Error(), `spec.sourceRef.kind: Unsupported value: "HelmRepository"`)

	// Re-running is a no-op that keeps labels other managers added.
	crd := &apiextensionsv1.CustomResourceDefinition{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "packages.cozystack.io"}, crd))
	crd.Labels["team"] = "platform"
	require.NoError(t, c.Update(ctx, crd, client.FieldOwner("someone-else")))
	require.NoError(t, CRDs(ctx, c, crds.FS, crds.Operator, time.Minute))
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "packages.cozystack.io"}, crd))
	assert.Equal(t, "platform", crd.Labels["team"])
}

func TestFluxCRDsEstablish(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	require.NoError(t, CRDs(ctx, c, fluxcrds.FS, nil, time.Minute))
	names, err := fs.Glob(fluxcrds.FS, "*.yaml")
	require.NoError(t, err)
	list := &apiextensionsv1.CustomResourceDefinitionList{}
	require.NoError(t, c.List(ctx, list))
	var established int
	for _, crd := range list.Items {
		if strings.HasSuffix(crd.Spec.Group, ".fluxcd.io") {
			established++
		}
	}
	assert.Equal(t, len(names), established)
	assert.Equal(t, 12, established, "source (6), helm (1), source-watcher (1), kustomize (1) and notification (3) CRDs")
}

func TestCRDsRefuseOtherObjects(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	fsys := fstest.MapFS{"x.yaml": {Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: sneaky}\n")}}
	err := CRDs(ctx, c, fsys, nil, time.Minute)
	require.EqualError(t, err, "install CRDs: v1/Namespace sneaky is not an apiextensions.k8s.io/v1 CustomResourceDefinition")
	err = c.Get(ctx, client.ObjectKey{Name: "sneaky"}, &metav1.PartialObjectMetadata{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"}})
	assert.True(t, apierrors.IsNotFound(err), "nothing was applied")
}

// TestWaitNamesTheCRDThatDoesNotEstablish installs two CRDs claiming the same kind: the API
// server refuses the second one's names, so it never becomes Established.
func TestWaitNamesTheCRDThatDoesNotEstablish(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	crd := func(plural string) string {
		return "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {name: " + plural + ".example.com}\n" +
			"spec:\n  group: example.com\n  scope: Cluster\n  names: {kind: Gadget, plural: " + plural + ", listKind: GadgetList}\n" +
			"  versions: [{name: v1, served: true, storage: true, schema: {openAPIV3Schema: {type: object}}}]\n"
	}
	fsys := fstest.MapFS{"a.yaml": {Data: []byte(crd("gadgets"))}, "b.yaml": {Data: []byte(crd("gizmos"))}}
	start := time.Now()
	err := CRDs(ctx, c, fsys, nil, 3*time.Second)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "gizmos.example.com not Established after 3s")
	assert.NotContains(t, err.Error(), "gadgets.example.com")
	assert.Less(t, time.Since(start), 20*time.Second, "the wait is bounded")
}

func TestFluxInstallsControllersWithEndpoint(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)
	opts := FluxOptions{Endpoint: APIEndpoint{Host: "localhost", Port: "7445"}, RequeueDependency: 5 * time.Second}
	require.NoError(t, Flux(ctx, c, opts, time.Minute))
	require.NoError(t, Flux(ctx, c, opts, time.Minute), "re-running on every start is a no-op")

	dep := &appsv1.Deployment{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: flux.Namespace, Name: "flux"}, dep))
	spec := dep.Spec.Template.Spec
	assert.True(t, spec.HostNetwork)
	var images []string
	for _, ctr := range spec.Containers {
		images = append(images, ctr.Image)
		env := map[string]string{}
		for _, e := range ctr.Env {
			env[e.Name] = e.Value
		}
		assert.Equal(t, "localhost", env["KUBERNETES_SERVICE_HOST"], ctr.Name)
		assert.Equal(t, "7445", env["KUBERNETES_SERVICE_PORT"], ctr.Name)
		if ctr.Name == "helm-controller" || ctr.Name == "kustomize-controller" {
			assert.Contains(t, ctr.Args, "--feature-gates=ExternalArtifact=true")
		}
		if ctr.Name == "helm-controller" || ctr.Name == "source-controller" {
			assert.Contains(t, ctr.Args, "--requeue-dependency=5s", "%s: the option replaces the shipped 30s", ctr.Name)
			assert.NotContains(t, ctr.Args, "--requeue-dependency=30s", ctr.Name)
		}
		// Each controller keeps its data in its own directory of the pod's volume, which the
		// kubelet creates (source-controller refuses a missing storage path).
		for _, m := range ctr.VolumeMounts {
			if m.Name == "data" {
				assert.Equal(t, ctr.Name, m.SubPath, ctr.Name)
			}
		}
	}
	var want []string
	for _, c := range flux.Components() {
		want = append(want, c.Image)
	}
	assert.Equal(t, want, images)
	ns := &corev1.Namespace{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: flux.Namespace}, ns))
	assert.Equal(t, "privileged", ns.Labels["pod-security.kubernetes.io/enforce"])
	for _, svc := range []string{"flux", "source-watcher"} {
		require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: flux.Namespace, Name: svc}, &corev1.Service{}))
	}
}
