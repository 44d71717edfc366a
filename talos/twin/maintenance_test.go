package twin_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/cozylab/cozylab/talos/twin"
)

func TestMaintenanceAnswersOnlyVersionAndApply(t *testing.T) {
	_, addr := startTwin(t, twin.NewMemoryNode("cp-1"), nil)
	c := insecureClient(t, addr)
	ctx := callCtx(t)

	v, err := c.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, "maintenance", v.Messages[0].Platform.Mode)
	assert.Equal(t, "cp-1", v.Messages[0].Metadata.Hostname)

	_, err = c.ServiceList(ctx)
	requireCode(t, codes.Unimplemented, err)

	requireCode(t, codes.Unimplemented, c.Bootstrap(ctx, nil))
}

func TestMaintenanceRejectsSecureClient(t *testing.T) {
	cl := newCluster(t)
	_, addr := startTwin(t, twin.NewMemoryNode("cp-1"), nil)

	_, err := secureClient(t, cl.Talosconfig, addr).Version(callCtx(t))
	requireCode(t, codes.Unavailable, err)
	assert.Contains(t, err.Error(), "certificate signed by unknown authority")
}

func TestApplyInMaintenanceEndsMaintenance(t *testing.T) {
	cl := newCluster(t)
	node := twin.NewMemoryNode("cp-1")
	tw, addr := startTwin(t, node, nil)
	ctx := callCtx(t)

	insecure := insecureClient(t, addr)
	resp, err := apply(ctx, insecure, cl.Config)
	require.NoError(t, err)
	assert.Equal(t, "cp-1", resp.Messages[0].Metadata.Hostname)

	assert.False(t, tw.Maintenance())
	assert.Equal(t, cl.Config, tw.Config())
	require.NotNil(t, node.Config(), "node was told about the config")
	assert.Equal(t, "cp-1", node.Config().NetworkHostnameConfig().Hostname())

	// The connection opened in maintenance mode is refused from now on.
	_, err = insecure.Version(ctx)
	requireCode(t, codes.Unavailable, err)

	// A new insecure connection fails the handshake: the twin now wants a client certificate.
	_, err = insecureClient(t, addr).Version(ctx)
	requireRefusedByServer(t, err, "certificate required")

	v, err := secureClient(t, cl.Talosconfig, addr).Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, "configured", v.Messages[0].Platform.Mode)
}

func TestApplyRejectsInvalidConfig(t *testing.T) {
	for _, tc := range []struct {
		name    string
		config  string
		wantErr string
	}{
		{name: "not a config", config: "hello: world\n", wantErr: "apply configuration:"},
		{name: "fails validation", config: "version: v1alpha1\nmachine:\n  type: controlplane\n", wantErr: "validate config"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw, addr := startTwin(t, twin.NewMemoryNode("cp-1"), nil)

			_, err := apply(callCtx(t), insecureClient(t, addr), []byte(tc.config))
			requireCode(t, codes.InvalidArgument, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.True(t, tw.Maintenance(), "a rejected config leaves the node in maintenance mode")
		})
	}
}
