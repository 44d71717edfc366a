//go:build integration

package flows_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/talos/flows"
	"github.com/cozylab/cozylab/talos/internal/twintest"
	"github.com/cozylab/cozylab/talos/twin"
)

// imageNode is a node whose images are the CRI of a real containerd.
type imageNode struct {
	*twin.MemoryNode
	twin.CRI
}

// Images lists what the node's CRI holds.
func TestImages(t *testing.T) {
	reg := twintest.Registry(t)
	twintest.PushRandom(t, reg, "cozylab/probe:v1")
	cri := twintest.Containerd(t, reg)
	cl := twintest.NewCluster(t)
	_, addr := twintest.Start(t, imageNode{twin.NewMemoryNode("cp-1"), cri}, cl.Config)
	c := twintest.SecureClient(t, cl.Talosconfig, addr)
	ctx := twintest.CallCtx(t)

	names, err := flows.Images(ctx, c)
	require.NoError(t, err)
	assert.NotContains(t, names, "ghcr.io/cozylab/probe:v1")

	require.NoError(t, cri.PullImage(ctx, "ghcr.io/cozylab/probe:v1"))
	names, err = flows.Images(ctx, c)
	require.NoError(t, err)
	assert.Contains(t, names, "ghcr.io/cozylab/probe:v1")
}
