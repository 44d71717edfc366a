//go:build integration

package local

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/packages"
)

// operatorFluxCRDs is the operator's Flux CRD set, read from disk: lab/ may not import operator/.
const operatorFluxCRDs = "../../operator/flux/crds"

var ociRepositories = sourcev1.GroupVersion.WithResource("ocirepositories")

// TestSourceControllerPullsThePackagesArtifact pushes the embedded packages tree to the
// in-process registry and checks that a real source-controller makes an OCIRepository pointing
// at it Ready, reporting the revision PushDirectory returned.
func TestSourceControllerPullsThePackagesArtifact(t *testing.T) {
	ctx := t.Context()
	paths, err := (&bincache.Cache{}).Ensure(ctx, bincache.SourceController)
	require.NoError(t, err, "get source-controller from the binaries cache (go run mage.go bins)")
	cp := cptest.Start(t)
	cfg := cp.RESTConfig()
	cptest.InstallCRDFiles(t, cfg, filepath.Join(operatorFluxCRDs, "*.yaml"))
	for _, ns := range []string{"flux-system", "cozy-registry-test"} {
		_, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Create(ctx,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}

	r, err := registry.Start(registry.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	meta := registry.ArtifactMeta{Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Source: "cozylab", Revision: "main@sha1:0000"}
	pushed, err := registry.PushDirectory(ctx, packages.FS, r.Ref("cozylab/packages", "v0.0.1"), meta)
	require.NoError(t, err)

	source := startSourceController(t, cp.Kubeconfig, paths[bincache.SourceController])

	repo := &sourcev1.OCIRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: sourcev1.OCIRepositoryKind},
		ObjectMeta: metav1.ObjectMeta{Namespace: "cozy-registry-test", Name: "packages"},
		Spec: sourcev1.OCIRepositorySpec{
			URL: r.URL("cozylab/packages"), Reference: &sourcev1.OCIRepositoryRef{Tag: "v0.0.1"},
			Insecure: true, Interval: metav1.Duration{Duration: time.Hour},
		},
	}
	obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(repo)
	require.NoError(t, err)
	repos := dynamic.NewForConfigOrDie(cfg).Resource(ociRepositories).Namespace(repo.Namespace)
	_, err = repos.Create(ctx, &unstructured.Unstructured{Object: obj}, metav1.CreateOptions{})
	require.NoError(t, err)

	got := waitReady(t, ctx, repos, repo.Name, source)
	require.NotNil(t, got.Status.Artifact)
	assert.Equal(t, pushed.Revision, got.Status.Artifact.Revision)
	assert.Equal(t, "main@sha1:0000", got.Status.Artifact.Metadata[registry.AnnotationRevision])
	assert.Equal(t, "2026-01-02T03:04:05Z", got.Status.Artifact.Metadata[registry.AnnotationCreated])

	// The tree arrives with its relative paths: source-controller's re-archived copy holds the
	// same Chart.yaml at the same path.
	want, err := fs.ReadFile(packages.FS, "core/flux-aio/Chart.yaml")
	require.NoError(t, err)
	assert.Equal(t, string(want), servedFile(t, got.Status.Artifact.URL, "core/flux-aio/Chart.yaml"))
}

// servedFile downloads the tar.gz at url and returns the content of the entry named name
// (with or without a leading "./").
func servedFile(t *testing.T, url, name string) string {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", url)
	gz, err := gzip.NewReader(resp.Body)
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		require.NoError(t, err, "find %s in %s", name, url)
		if strings.TrimPrefix(h.Name, "./") == name {
			data, err := io.ReadAll(tr)
			require.NoError(t, err)
			return string(data)
		}
	}
}

// startSourceController runs source-controller against the API server at kubeconfig until t ends.
func startSourceController(t *testing.T, kubeconfig, bin string) *process.Process {
	t.Helper()
	group, err := process.NewGroup(t.TempDir())
	require.NoError(t, err)
	// Registered after cptest's cleanup, so the controller stops before the API server.
	t.Cleanup(func() { assert.NoError(t, group.Stop(context.Background())) })
	storage := filepath.Join(group.Dir(), "storage")
	require.NoError(t, os.Mkdir(storage, 0o700)) // source-controller refuses a missing path
	addr, err := LoopbackAddrs(3)
	require.NoError(t, err)
	p, err := group.Start(SourceControllerSpec(bin, kubeconfig, storage, FluxAddrs{Storage: addr[0], Metrics: addr[1], Health: addr[2]}))
	require.NoError(t, err)
	return p
}

// waitReady watches the OCIRepository until its reconcile of the current generation ended
// Ready; the controller's exit ends the wait early, and a failure shows the controller's log.
func waitReady(t *testing.T, ctx context.Context, repos dynamic.ResourceInterface, name string, source *process.Process) *sourcev1.OCIRepository {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	go func() {
		select {
		case <-source.Exited():
			cancel()
		case <-wctx.Done():
		}
	}()
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return repos.List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return repos.Watch(ctx, o)
		},
	}
	repo := &sourcev1.OCIRepository{}
	_, err := watchtools.UntilWithSync(wctx, lw, &unstructured.Unstructured{}, nil, func(ev watch.Event) (bool, error) {
		u, ok := ev.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, repo); err != nil {
			return false, err
		}
		c := apimeta.FindStatusCondition(repo.Status.Conditions, meta.ReadyCondition)
		// source-controller patches conditions before the artifact; the reconcile is over once
		// status.observedGeneration catches up.
		return c != nil && c.Status == metav1.ConditionTrue && repo.Status.ObservedGeneration == repo.Generation, nil
	})
	require.NoError(t, err, "wait for OCIRepository %s Ready; conditions %+v; source-controller log:\n%s",
		name, repo.Status.Conditions, source.LogTail(20))
	return repo
}
