//go:build integration

package flows_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/talos/flows"
	"github.com/cozylab/cozylab/talos/internal/twintest"
	"github.com/cozylab/cozylab/talos/twin"
)

// imageNode is a node whose images are the CRI of a real containerd.
type imageNode struct {
	*twin.MemoryNode
	twin.CRI
}

// ImagePulled pulls through the node's registry mirror and the image is then listed; an image
// the registry lacks ends the wait at once, naming it, instead of at the bound.
func TestImagePulled(t *testing.T) {
	reg := twintest.Registry(t)
	twintest.PushRandom(t, reg, "cozylab/probe:v1")
	cl := twintest.NewCluster(t)
	_, addr := twintest.Start(t, imageNode{twin.NewMemoryNode("cp-1"), twintest.Containerd(t, reg)}, cl.Config)
	c := twintest.SecureClient(t, cl.Talosconfig, addr)
	ctx := twintest.CallCtx(t)

	require.NoError(t, condition.Wait(ctx, flows.ImagePulled("cp-1", c, "ghcr.io/cozylab/probe:v1"), fast, nil))
	names, err := flows.Images(ctx, c)
	require.NoError(t, err)
	assert.Contains(t, names, "ghcr.io/cozylab/probe:v1")

	err = condition.Wait(ctx, flows.ImagePulled("cp-1", c, "ghcr.io/cozylab/absent:v1"), fast, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ghcr.io/cozylab/absent:v1")
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "a missing image ends the wait, not its bound")
}
