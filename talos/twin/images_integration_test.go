//go:build integration

package twin_test

import (
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/cozylab/cozylab/talos/internal/twintest"
	"github.com/cozylab/cozylab/talos/twin"
)

// An image pulled through a twin's ImageService lands in its containerd's CRI, fetched through
// the node's registry mirror, and is listed there until removed; a pull of an image the mirror lacks fails
// naming it.
func TestImageServicePullsThroughTheMirror(t *testing.T) {
	reg := twintest.Registry(t)
	id := twintest.PushRandom(t, reg, "cozylab/probe:v1")

	cl := newCluster(t)
	_, addr := startTwin(t, imageNode{twin.NewMemoryNode("cp-1"), twintest.Containerd(t, reg)}, cl.Config)
	c := secureClient(t, cl.Talosconfig, addr)

	names, err := pullImage(t, c, criNamespace, "ghcr.io/cozylab/probe:v1")
	require.NoError(t, err)
	assert.Equal(t, []string{"ghcr.io/cozylab/probe:v1"}, names)

	stream, err := c.ImageClient.List(callCtx(t), &machine.ImageServiceListRequest{Containerd: criNamespace})
	require.NoError(t, err)
	listed, err := recvAll(stream, func(m *machine.ImageServiceListResponse) string { return m.GetName() + " " + m.GetDigest() })
	require.NoError(t, err)
	assert.Contains(t, listed, "ghcr.io/cozylab/probe:v1 "+id)

	_, err = c.ImageClient.Remove(callCtx(t), &machine.ImageServiceRemoveRequest{Containerd: criNamespace, ImageRef: "ghcr.io/cozylab/probe:v1"})
	require.NoError(t, err)
	stream, err = c.ImageClient.List(callCtx(t), &machine.ImageServiceListRequest{Containerd: criNamespace})
	require.NoError(t, err)
	listed, err = recvAll(stream, func(m *machine.ImageServiceListResponse) string { return m.GetName() })
	require.NoError(t, err)
	assert.NotContains(t, listed, "ghcr.io/cozylab/probe:v1", "removed")

	_, err = pullImage(t, c, criNamespace, "ghcr.io/cozylab/absent:v1")
	requireCode(t, codes.NotFound, err)
	assert.Contains(t, err.Error(), "ghcr.io/cozylab/absent:v1")
}
