//go:build integration

package sourcewatcher

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
)

// fluxCRDs is the Flux CRD directory, read from disk: lab/ must not import operator/.
const fluxCRDs = "../../../operator/flux/crds"

// sourceServer serves source tarballs the way source-controller's storage would.
type sourceServer struct {
	mu    sync.Mutex
	files map[string][]byte
	*httptest.Server
}

func newSourceServer(t *testing.T) *sourceServer {
	s := &sourceServer{files: map[string][]byte{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		data, ok := s.files[r.URL.Path]
		s.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write(data)
	}))
	t.Cleanup(s.Close)
	return s
}

// put stores data at path and returns its URL.
func (s *sourceServer) put(path string, data []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = data
	return s.URL + path
}

// sourceTarball archives files like source-controller does: a "." entry and "./"-prefixed names.
func sourceTarball(t *testing.T, files map[string]string) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	require.NoError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "./", Mode: 0o750}))
	for name, content := range files {
		require.NoError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "./" + name, Mode: 0o600, Size: int64(len(content))}))
		_, err := tw.Write([]byte(content))
		require.NoError(t, err)
	}
	require.NoError(t, tw.Close())
	require.NoError(t, gz.Close())
	return buf.Bytes()
}

// startStandIn runs the stand-in in a manager against a fresh control plane.
func startStandIn(t *testing.T) (client.Client, *Reconciler) {
	cfg := cptest.Config(t)
	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, apiextensionsv1.AddToScheme(scheme))
	require.NoError(t, sourcev1.AddToScheme(scheme))
	require.NoError(t, sw.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	cptest.InstallCRDFiles(t, cfg, filepath.Join(fluxCRDs, "*.yaml"))

	skip := true
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0", Controller: config.Controller{SkipNameValidation: &skip}})
	require.NoError(t, err)
	r := New(Options{Addr: "127.0.0.1:0", StorageDir: t.TempDir()})
	require.NoError(t, r.SetupWithManager(mgr))
	require.NotEmpty(t, r.URL())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	return c, r
}

// publishSource writes an OCIRepository's status.artifact as source-controller would.
func publishSource(t *testing.T, c client.Client, repo *sourcev1.OCIRepository, url, revision string, data []byte) {
	ctx := context.Background()
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(repo), repo))
	patch := client.MergeFrom(repo.DeepCopy())
	size := int64(len(data))
	repo.Status.Artifact = &meta.Artifact{Path: "ocirepository/x.tar.gz", URL: url, Revision: revision,
		Digest: "sha256:" + sha256Hex(data), Size: &size, LastUpdateTime: metav1.Now()}
	require.NoError(t, c.Status().Patch(ctx, repo, patch))
}

func generator(ns, name string, values ...string) *sw.ArtifactGenerator {
	copies := []sw.CopyOperation{{From: "@cozystack-packages/apps/demo/**", To: "@artifact/demo/"}}
	for i, v := range values {
		strategy := sw.MergeStrategy
		if i == 0 {
			strategy = sw.OverwriteStrategy
		}
		copies = append(copies, sw.CopyOperation{From: "@cozystack-packages/apps/demo/" + v, To: "@artifact/demo/values.yaml", Strategy: strategy})
	}
	return &sw.ArtifactGenerator{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: sw.ArtifactGeneratorSpec{
			Sources:         []sw.SourceReference{{Alias: "cozystack-packages", Kind: sourcev1.OCIRepositoryKind, Name: "packages"}},
			OutputArtifacts: []sw.OutputArtifact{{Name: strings.ReplaceAll(name, ".", "-") + "-default-demo", Copy: copies}},
		},
	}
}

func readyOf(conds []metav1.Condition) *metav1.Condition {
	return apimeta.FindStatusCondition(conds, "Ready")
}

// eventuallyArtifact waits until the ExternalArtifact is Ready with an artifact other than
// notDigest, and returns it.
func eventuallyArtifact(t *testing.T, c client.Client, key client.ObjectKey, notDigest string) *sourcev1.ExternalArtifact {
	ea := &sourcev1.ExternalArtifact{}
	require.Eventually(t, func() bool {
		if c.Get(context.Background(), key, ea) != nil || ea.Status.Artifact == nil {
			return false
		}
		r := readyOf(ea.Status.Conditions)
		return r != nil && r.Status == metav1.ConditionTrue && ea.Status.Artifact.Digest != notDigest
	}, 15*time.Second, 50*time.Millisecond, "ExternalArtifact %s Ready (last: %+v)", key, ea.Status)
	return ea
}

// download fetches an artifact, checks its digest and untars it.
func download(t *testing.T, art *meta.Artifact) ([]byte, Tree) {
	resp, err := http.Get(art.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	data, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.NoError(t, verifyDigest(data, art.Digest))
	require.Equal(t, int64(len(data)), *art.Size)
	tree, err := Untar(bytes.NewReader(data))
	require.NoError(t, err)
	return data, tree
}

func TestGeneratorPublishesChartWithMergedValues(t *testing.T) {
	ctx := context.Background()
	c, r := startStandIn(t)
	const ns = "sw-test"
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))

	files := map[string]string{
		"apps/demo/Chart.yaml":               "apiVersion: v2\nname: demo\nversion: 0.1.0\n",
		"apps/demo/values.yaml":              "replicas: 1\nimage:\n  repo: demo\n  tag: v1\n",
		"apps/demo/values-ha.yaml":           "replicas: 3\nimage:\n  tag: v2\n",
		"apps/demo/templates/configmap.yaml": "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n",
		"apps/other/Chart.yaml":              "apiVersion: v2\nname: other\nversion: 0.1.0\n",
	}
	srv := newSourceServer(t)
	src := sourceTarball(t, files)
	repo := &sourcev1.OCIRepository{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "packages"},
		Spec:       sourcev1.OCIRepositorySpec{URL: "oci://127.0.0.1:5000/packages", Interval: metav1.Duration{Duration: time.Minute}},
	}
	require.NoError(t, c.Create(ctx, repo))
	publishSource(t, c, repo, srv.put("/v1.tar.gz", src), "v1@sha256:"+sha256Hex(src), src)

	ag := generator(ns, "cozystack.demo", "values.yaml", "values-ha.yaml")
	require.NoError(t, c.Create(ctx, ag))
	key := client.ObjectKey{Namespace: ns, Name: "cozystack-demo-default-demo"}
	ea := eventuallyArtifact(t, c, key, "")

	art := ea.Status.Artifact
	assert.Regexp(t, `^latest@sha256:[0-9a-f]{64}$`, art.Revision)
	assert.Equal(t, "latest@"+art.Digest, art.Revision)
	assert.Equal(t, ag.Name, ea.Labels[sw.ArtifactGeneratorLabel])
	require.NotNil(t, ea.Spec.SourceRef)
	assert.Equal(t, meta.NamespacedObjectKindReference{APIVersion: sw.GroupVersion.String(), Kind: sw.ArtifactGeneratorKind, Name: ag.Name, Namespace: ns}, *ea.Spec.SourceRef)
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(ag), ag))
	assert.True(t, metav1.IsControlledBy(ea, ag), "owner reference to the generator")

	data, tree := download(t, art)
	assert.Equal(t, "replicas: 3\nimage:\n  repo: demo\n  tag: v2\n", string(tree["demo/values.yaml"].Data))
	assert.NotContains(t, tree, "other/Chart.yaml")
	chart, err := loader.LoadArchive(bytes.NewReader(data))
	require.NoError(t, err, "Helm loads the artifact as a chart")
	assert.Equal(t, "demo", chart.Name())
	assert.EqualValues(t, 3, chart.Values["replicas"])

	ready := readyOf(ag.Status.Conditions)
	require.NotNil(t, ready)
	assert.Equal(t, metav1.ConditionTrue, ready.Status)
	assert.Contains(t, ready.Message, "generated 1 artifact(s)")
	assert.Equal(t, []sw.ExternalArtifactReference{{Name: key.Name, Namespace: ns, Digest: art.Digest, Filename: sha256HexOf(art.Digest) + ".tar.gz"}}, ag.Status.Inventory)
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, ag.Status.ObservedSourcesDigest)

	// A reconcile with nothing changed writes nothing to the ExternalArtifact.
	eaVersion := ea.ResourceVersion
	patch := client.MergeFrom(ag.DeepCopy())
	ag.Annotations = map[string]string{meta.ReconcileRequestAnnotation: "now"}
	require.NoError(t, c.Patch(ctx, ag, patch))
	require.Eventually(t, func() bool {
		return c.Get(ctx, client.ObjectKeyFromObject(ag), ag) == nil && ag.Status.LastHandledReconcileAt == "now"
	}, 15*time.Second, 50*time.Millisecond, "reconcile request handled")
	require.NoError(t, c.Get(ctx, key, ea))
	assert.Equal(t, eaVersion, ea.ResourceVersion, "unchanged artifact is not rewritten")

	// A new source artifact re-runs the generator.
	files["apps/demo/values-ha.yaml"] = "replicas: 5\n"
	src2 := sourceTarball(t, files)
	publishSource(t, c, repo, srv.put("/v2.tar.gz", src2), "v2@sha256:"+sha256Hex(src2), src2)
	ea = eventuallyArtifact(t, c, key, art.Digest)
	_, tree = download(t, ea.Status.Artifact)
	assert.Equal(t, "replicas: 5\nimage:\n  repo: demo\n  tag: v1\n", string(tree["demo/values.yaml"].Data))
	resp, err := http.Get(art.URL)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the superseded tarball is removed")

	// A copy whose from matches nothing fails the generator, naming the copy.
	bad := generator(ns, "cozystack.bad", "values.yaml", "values-missing.yaml")
	require.NoError(t, c.Create(ctx, bad))
	var cond *metav1.Condition
	require.Eventually(t, func() bool {
		if c.Get(ctx, client.ObjectKeyFromObject(bad), bad) != nil {
			return false
		}
		cond = readyOf(bad.Status.Conditions)
		return cond != nil
	}, 15*time.Second, 50*time.Millisecond, "generator %s gets a Ready condition", bad.Name)
	assert.Equal(t, metav1.ConditionFalse, cond.Status)
	assert.Equal(t, BuildFailedReason, cond.Reason)
	assert.Contains(t, cond.Message, `copy[2] from "@cozystack-packages/apps/demo/values-missing.yaml": matches no file`)
	err = c.Get(ctx, client.ObjectKey{Namespace: ns, Name: "cozystack-bad-default-demo"}, &sourcev1.ExternalArtifact{})
	assert.True(t, client.IgnoreNotFound(err) == nil && err != nil, "no ExternalArtifact for a failed generator, got %v", err)

	// A disabled generator is left alone; enabling it again builds it.
	off := generator(ns, "cozystack.off", "values.yaml")
	off.Annotations = map[string]string{sw.ReconcileAnnotation: sw.DisabledValue}
	require.NoError(t, c.Create(ctx, off))
	_, err = r.Reconcile(ctx, ctrl.Request{NamespacedName: client.ObjectKeyFromObject(off)})
	require.NoError(t, err)
	require.NoError(t, c.Get(ctx, client.ObjectKeyFromObject(off), off))
	assert.Empty(t, off.Status.Conditions, "a disabled generator gets no status")
	patch = client.MergeFrom(off.DeepCopy())
	off.Annotations[sw.ReconcileAnnotation] = sw.EnabledValue
	require.NoError(t, c.Patch(ctx, off, patch))
	eventuallyArtifact(t, c, client.ObjectKey{Namespace: ns, Name: "cozystack-off-default-demo"}, "")

	// Deleting a generator removes its ExternalArtifacts and its served tarballs.
	current := ea.Status.Artifact.URL
	require.NoError(t, c.Delete(ctx, ag))
	require.Eventually(t, func() bool {
		return client.IgnoreNotFound(c.Get(ctx, key, &sourcev1.ExternalArtifact{})) == nil && c.Get(ctx, key, &sourcev1.ExternalArtifact{}) != nil
	}, 15*time.Second, 50*time.Millisecond, "ExternalArtifact %s deleted with its generator", key)
	resp, err = http.Get(current)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "the deleted generator's tarball is removed")
}

func sha256HexOf(digest string) string {
	return digest[len("sha256:"):]
}
