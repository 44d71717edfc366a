//go:build integration

package packageloop

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

// echoChart is the chart whose image these tests build.
const echoChart = "../../packages/system/echo"

// copyEchoChart copies the echo chart into a fresh directory inside this module, so that go
// build finds images/echo in the module as it does for the real chart, and the real values.yaml
// is never written. The directory is under _out/, which git ignores and `./...` skips, and is
// removed when t ends.
func copyEchoChart(t *testing.T) string {
	t.Helper()
	base := filepath.Join("..", "..", "_out", "packageloop-test")
	require.NoError(t, os.MkdirAll(base, 0o755))
	dir, err := os.MkdirTemp(base, "echo-")
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, os.RemoveAll(dir)) })
	require.NoError(t, os.CopyFS(dir, os.DirFS(echoChart)))
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	return abs
}

// startRegistry starts an empty registry for t.
func startRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg, err := registry.Start(registry.Options{Addr: "127.0.0.1:0"})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, reg.Close()) })
	return reg
}

func TestImage(t *testing.T) {
	ctx := t.Context()
	reg := startRegistry(t)
	dir := copyEchoChart(t)
	valuesFile := filepath.Join(dir, "values.yaml")
	before, err := os.ReadFile(valuesFile)
	require.NoError(t, err)
	oldTag, _, err := lookupString(before, valuePath{"image", "tag"})
	require.NoError(t, err)
	oldDigest, _, err := lookupString(before, valuePath{"image", "digest"})
	require.NoError(t, err)

	rec := &progress.Recorder{}
	res, err := Image(ctx, ImageOptions{ChartDir: dir, Registry: reg.Addr()}, rec)
	require.NoError(t, err)
	require.Len(t, res.Images, 1)
	img := res.Images[0]
	assert.Equal(t, "echo", img.Name)
	assert.Equal(t, "ghcr.io/cozylab/echo", img.Repository, "a mirrored repository keeps its upstream name")
	assert.Regexp(t, `^sha256:[0-9a-f]{64}$`, img.Digest)
	assert.Equal(t, "sha-"+img.Digest[len("sha256:"):][:12], img.Tag)
	assert.Equal(t, reg.Addr()+"/ghcr.io/cozylab/echo:"+img.Tag, img.Ref, "pushed under the mirrored path")
	assert.True(t, img.Pushed)
	assert.Equal(t, []SetValue{{Key: "image.tag", Value: img.Tag}, {Key: "image.digest", Value: img.Digest}}, res.Values)
	assert.True(t, res.ValuesChanged)
	assert.Equal(t, []progress.Outcome{progress.Succeeded, progress.Succeeded}, outcomes(rec))

	// The image: one binary at /echo, its entrypoint, run as 65532.
	tag, err := name.NewTag(img.Ref, name.Insecure)
	require.NoError(t, err)
	pulled, err := remote.Image(tag, remote.WithContext(ctx))
	require.NoError(t, err)
	digest, err := pulled.Digest()
	require.NoError(t, err)
	assert.Equal(t, img.Digest, digest.String())
	cfg, err := pulled.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/echo"}, cfg.Config.Entrypoint)
	assert.Equal(t, "65532", cfg.Config.User)

	// The node's containerd asks for the upstream name with ?ns=ghcr.io, and finds the image.
	mirrored := "http://" + reg.Addr() + "/v2/cozylab/echo/manifests/" + img.Tag + "?ns=ghcr.io"
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, mirrored, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.NoError(t, resp.Body.Close())
	assert.Equal(t, http.StatusOK, resp.StatusCode, mirrored)
	assert.Equal(t, img.Digest, resp.Header.Get("Docker-Content-Digest"))

	// values.yaml: the tag and digest lines changed, and nothing else.
	after, err := os.ReadFile(valuesFile)
	require.NoError(t, err)
	want := strings.Replace(string(before), `tag: "`+oldTag+`"`, `tag: "`+img.Tag+`"`, 1)
	want = strings.Replace(want, `digest: "`+oldDigest+`"`, `digest: "`+img.Digest+`"`, 1)
	assert.Equal(t, want, string(after))

	// A second run builds the same image, pushes nothing and leaves values.yaml as it is.
	rec = &progress.Recorder{}
	again, err := Image(ctx, ImageOptions{ChartDir: dir, Registry: reg.Addr()}, rec)
	require.NoError(t, err)
	require.Len(t, again.Images, 1)
	assert.Equal(t, img.Digest, again.Images[0].Digest, "the build is reproducible")
	assert.False(t, again.Images[0].Pushed, "nothing new is pushed")
	assert.False(t, again.ValuesChanged)
	assert.Equal(t, []progress.Outcome{progress.Skipped, progress.Skipped}, outcomes(rec))
	unchanged, err := os.ReadFile(valuesFile)
	require.NoError(t, err)
	assert.Equal(t, string(after), string(unchanged), "values.yaml is byte-identical")
	tags, err := remote.List(tag.Context(), remote.WithContext(ctx))
	require.NoError(t, err)
	assert.Equal(t, []string{img.Tag}, tags, "the registry holds one tag")
}

func outcomes(rec *progress.Recorder) []progress.Outcome {
	var out []progress.Outcome
	for _, r := range rec.Records() {
		out = append(out, r.Outcome)
	}
	return out
}

// TestImageShowsInDiff: after make image, make diff against the release installed with the old
// values shows the Deployment's image moving to the new tag and digest, and nothing else.
func TestImageShowsInDiff(t *testing.T) {
	ctx := t.Context()
	base, c := loopCluster(t)
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "tenant-image"}}))
	require.NoError(t, c.Create(ctx, &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-system", Namespace: "tenant-image"},
		Spec: helmv2.HelmReleaseSpec{
			Interval: metav1.Duration{Duration: time.Minute},
			ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: "echo", Namespace: "cozy-system"},
			Install:  &helmv2.Install{DisableWait: true},
			Upgrade:  &helmv2.Upgrade{DisableWait: true},
		},
	}))
	dir := copyEchoChart(t)
	opts := Options{ChartDir: dir, Name: "echo-system", Namespace: "tenant-image", Config: base.Config}
	before, err := os.ReadFile(filepath.Join(dir, "values.yaml"))
	require.NoError(t, err)
	oldTag, _, err := lookupString(before, valuePath{"image", "tag"})
	require.NoError(t, err)
	oldImage := "ghcr.io/cozylab/echo:" + oldTag
	if oldDigest, _, err := lookupString(before, valuePath{"image", "digest"}); err == nil && oldDigest != "" {
		oldImage += "@" + oldDigest
	}

	_, err = Apply(ctx, opts, progress.Discard)
	require.NoError(t, err)
	res, err := Image(ctx, ImageOptions{ChartDir: dir, Registry: startRegistry(t).Addr()}, progress.Discard)
	require.NoError(t, err)
	img := res.Images[0]

	diff, err := Diff(ctx, opts)
	require.NoError(t, err)
	t.Log("diff after make image:\n" + diff.Format(false))
	require.Len(t, diff.Objects, 1, diff.Format(false))
	d := diff.Objects[0]
	assert.Equal(t, "Deployment/tenant-image/echo-system", d.ID())
	assert.Equal(t, ChangeUpdate, d.Change)
	assert.Contains(t, d.Diff, "\n-        image: "+oldImage+"\n")
	assert.Contains(t, d.Diff, "\n+        image: ghcr.io/cozylab/echo:"+img.Tag+"@"+img.Digest+"\n")
	assert.Equal(t, 2, countChangedLines(d.Diff), d.Diff)
}
