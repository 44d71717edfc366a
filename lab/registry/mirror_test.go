package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// get does a raw GET of path on the registry, asking for OCI and Docker manifests as containerd
// does, and returns the status, the Docker-Content-Digest header and the body.
func get(t *testing.T, r *Registry, path string) (int, string, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, "http://"+r.Addr()+path, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, resp.Header.Get("Docker-Content-Digest"), body
}

func TestMirrorServesUpstreamNamesThroughNS(t *testing.T) {
	r := startRegistry(t)
	ref, err := MirrorRef(r.Addr(), "registry.k8s.io/pause:3.10")
	require.NoError(t, err)
	require.Equal(t, r.Addr()+"/registry.k8s.io/pause:3.10", ref)
	pushed, err := PushBinaryImage(context.Background(), fakeBinary(t, "pause"), ref, ImageOptions{Path: "/pause"})
	require.NoError(t, err)

	status, digest, body := get(t, r, "/v2/pause/manifests/3.10?ns=registry.k8s.io")
	require.Equal(t, http.StatusOK, status, string(body))
	assert.Equal(t, pushed.Digest, digest)
	sum := sha256.Sum256(body)
	assert.Equal(t, pushed.Digest, "sha256:"+hex.EncodeToString(sum[:]), "the body must be the pushed manifest")

	status, _, _ = get(t, r, "/v2/pause/manifests/"+pushed.Digest+"?ns=registry.k8s.io")
	assert.Equal(t, http.StatusOK, status, "by digest, as containerd fetches after resolving")

	for name, path := range map[string]string{
		"without ns: a mirror misses rather than guessing the registry": "/v2/pause/manifests/3.10",
		"another upstream host": "/v2/pause/manifests/3.10?ns=ghcr.io",
		"a host with a port":    "/v2/pause/manifests/3.10?ns=registry.k8s.io:443",
		"a path in ns":          "/v2/manifests/3.10?ns=registry.k8s.io/pause",
	} {
		t.Run(name, func(t *testing.T) {
			status, _, body := get(t, r, path)
			assert.Equal(t, http.StatusNotFound, status, string(body))
		})
	}
}

func TestMirrorLeavesOtherRequestsAlone(t *testing.T) {
	r := startRegistry(t)
	pushed, err := PushBinaryImage(context.Background(), fakeBinary(t, "op"), r.Ref("cozystack-operator", "lab"), ImageOptions{})
	require.NoError(t, err)
	status, digest, _ := get(t, r, "/v2/cozystack-operator/manifests/lab")
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, pushed.Digest, digest)
	for _, path := range []string{"/v2/", "/v2/?ns=ghcr.io"} {
		status, _, body := get(t, r, path)
		assert.Equal(t, http.StatusOK, status, "API version check %s: %s", path, body)
	}
}

func TestMirrorRef(t *testing.T) {
	for upstream, want := range map[string]string{
		"registry.k8s.io/pause:3.10.1":                               "lab:5000/registry.k8s.io/pause:3.10.1",
		"registry.k8s.io/coredns/coredns:v1.13.1":                    "lab:5000/registry.k8s.io/coredns/coredns:v1.13.1",
		"ghcr.io/fluxcd/source-controller:v1.7.2":                    "lab:5000/ghcr.io/fluxcd/source-controller:v1.7.2",
		"docker.io/library/busybox:1.37":                             "lab:5000/docker.io/library/busybox:1.37",
		"ghcr.io/a/b@sha256:" + hex.EncodeToString(make([]byte, 32)): "lab:5000/ghcr.io/a/b@sha256:" + hex.EncodeToString(make([]byte, 32)),
	} {
		got, err := MirrorRef("lab:5000", upstream)
		require.NoError(t, err, upstream)
		assert.Equal(t, want, got, upstream)
	}
	for upstream, wantErr := range map[string]string{
		"pause:3.10":                   "want <host>/<path>:<tag>",
		"registry.k8s.io/pause":        "want <host>/<path>:<tag>",
		"localhost:5000/pause:3.10":    "cannot be mirrored",
		"registry.k8s.io/Pause:3.10.1": "want <host>/<path>:<tag>",
	} {
		_, err := MirrorRef("lab:5000", upstream)
		assert.ErrorContains(t, err, wantErr, upstream)
	}
}
