//go:build integration

package images

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

// repoRoot is the module root, two levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	require.NoError(t, err)
	require.FileExists(t, filepath.Join(root, "go.mod"))
	return root
}

func startRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	r, err := registry.Start(registry.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

// nsTransport adds ?ns=<host> to every request, as containerd does when it pulls an image of
// host through a mirror.
type nsTransport struct{ host string }

func (t nsTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	q := req.URL.Query()
	q.Set("ns", t.host)
	req.URL.RawQuery = q.Encode()
	return http.DefaultTransport.RoundTrip(req)
}

// pullAsMirror pulls upstream from the lab registry at addr the way a mirroring containerd
// asks for it: the repository without its host, the host in ns.
func pullAsMirror(t *testing.T, addr, upstream string) v1.Image {
	t.Helper()
	up, err := name.NewTag(upstream, name.StrictValidation)
	require.NoError(t, err)
	ref, err := name.NewTag(addr+"/"+up.RepositoryStr()+":"+up.TagStr(), name.Insecure)
	require.NoError(t, err)
	img, err := remote.Image(ref, remote.WithTransport(nsTransport{host: up.RegistryStr()}))
	require.NoError(t, err)
	return img
}

// extract copies the file at name (no leading slash) out of the image's single layer to dst.
func extract(t *testing.T, img v1.Image, name, dst string) {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			t.Fatalf("%s is not in the image", name)
		}
		require.NoError(t, err)
		if h.Name != name {
			continue
		}
		f, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o755)
		require.NoError(t, err)
		_, err = io.Copy(f, tr)
		require.NoError(t, err)
		require.NoError(t, f.Close())
		return
	}
}

func TestBuildPushesThePauseImageUnderItsUpstreamName(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t)
	rec := &progress.Recorder{}
	opts := Options{Registry: reg.Addr(), RepoRoot: repoRoot(t), Names: []string{Pause}, BinDir: t.TempDir(), Progress: rec}

	built, err := Build(ctx, opts)
	require.NoError(t, err)
	require.Len(t, built, 1)
	assert.Equal(t, reg.Addr()+"/registry.k8s.io/pause:3.10.1", built[0].Ref)
	assert.True(t, built[0].Pushed)

	img := pullAsMirror(t, reg.Addr(), "registry.k8s.io/pause:3.10.1")
	digest, err := img.Digest()
	require.NoError(t, err)
	assert.Equal(t, built[0].Digest, digest.String())
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, []string{"/pause"}, cfg.Config.Entrypoint)
	assert.Equal(t, "65535:65535", cfg.Config.User)

	bin := filepath.Join(t.TempDir(), "pause")
	extract(t, img, "pause", bin)
	out, err := command.Run(exec.CommandContext(ctx, bin, "-v"))
	require.NoError(t, err, "the pulled pause binary must run")
	assert.Contains(t, string(out), "3.10.1")

	again, err := Build(ctx, opts)
	require.NoError(t, err)
	require.Len(t, again, 1)
	assert.False(t, again[0].Pushed, "the registry holds this digest already")
	assert.Equal(t, built[0].Digest, again[0].Digest, "the image is reproducible")
	last := rec.Records()[len(rec.Records())-1]
	assert.Equal(t, progress.Record{Title: "image registry.k8s.io/pause:3.10.1", Outcome: progress.Skipped, Note: "cached"},
		progress.Record{Title: last.Title, Outcome: last.Outcome, Note: last.Note})
}

func TestBuildNamesTheRegistryWhenItIsDown(t *testing.T) {
	_, err := Build(context.Background(), Options{Registry: "127.0.0.1:1", Names: []string{Pause}, RepoRoot: repoRoot(t), BinDir: t.TempDir()})
	assert.ErrorContains(t, err, "image pause: look up 127.0.0.1:1/registry.k8s.io/pause:3.10.1 (is the lab registry at 127.0.0.1:1 running?)")
}

// TestBuildPushesTheFluxAndOperatorImages builds the Flux pod's five images (their binaries
// come from the binaries cache, which every local lab fills) and the operator's, checking that
// each is static and lands under its upstream name with its entrypoint.
func TestBuildPushesTheFluxAndOperatorImages(t *testing.T) {
	ctx := context.Background()
	reg := startRegistry(t)
	names := []string{SourceController, HelmController, SourceWatcher, KustomizeController, NotificationController, CozystackOperator}
	built, err := Build(ctx, Options{Registry: reg.Addr(), RepoRoot: repoRoot(t), Names: names, BinDir: t.TempDir()})
	require.NoError(t, err)
	require.Len(t, built, len(names))
	for i, b := range built {
		assert.Equal(t, names[i], b.Image.Name)
		img := pullAsMirror(t, reg.Addr(), b.Image.Upstream)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, []string{b.Image.Path}, cfg.Config.Entrypoint, b.Image.Name)
	}
}
