package registry

import (
	"context"
	"net"
	"testing"
	"testing/fstest"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// startRegistry starts a loopback registry closed when t ends.
func startRegistry(t *testing.T) *Registry {
	t.Helper()
	r, err := Start(Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, r.Close()) })
	return r
}

func TestStartListensOnLoopbackWithAFreePort(t *testing.T) {
	r := startRegistry(t)
	host, port, err := net.SplitHostPort(r.Addr())
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	assert.NotEqual(t, "0", port)
	assert.Equal(t, r.Addr()+"/apps/demo:1.0", r.Ref("apps/demo", "1.0"))
	assert.Equal(t, "oci://"+r.Addr()+"/apps/demo", r.URL("apps/demo"))
}

func TestStartRejectsABusyAddress(t *testing.T) {
	r := startRegistry(t)
	_, err := Start(Options{Addr: r.Addr()})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "listen on "+r.Addr())
}

func TestListenServesTheSameContentOnAnotherAddress(t *testing.T) {
	r := startRegistry(t)
	pushed, err := PushDirectory(context.Background(), fstest.MapFS{"a.txt": {Data: []byte("a")}}, r.Ref("demo", "v1"), ArtifactMeta{})
	require.NoError(t, err)

	other, err := r.Listen("127.0.0.1:0")
	require.NoError(t, err)
	require.NotEqual(t, r.Addr(), other)
	ref, err := name.ParseReference(other+"/demo:v1", name.Insecure)
	require.NoError(t, err)
	img, err := remote.Image(ref)
	require.NoError(t, err)
	digest, err := img.Digest()
	require.NoError(t, err)
	assert.Equal(t, pushed.Digest, digest.String())
}

func TestCloseStopsServingAndIsIdempotent(t *testing.T) {
	r, err := Start(Options{})
	require.NoError(t, err)
	require.NoError(t, r.Close())
	require.NoError(t, r.Close())
	_, err = net.Dial("tcp", r.Addr())
	require.Error(t, err, "the listener must be closed")
	_, err = r.Listen("127.0.0.1:0")
	require.ErrorContains(t, err, "registry is closed")
}

func TestPushRejectsAReferenceWithoutATag(t *testing.T) {
	r := startRegistry(t)
	_, err := PushDirectory(context.Background(), fstest.MapFS{"a": {}}, r.Addr()+"/demo", ArtifactMeta{})
	require.ErrorContains(t, err, "<host:port>/<repo>:<tag>")
}
