package qemu

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/qemu/network"
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/lab/state"
)

// e2eTarget is what e2e.Target adds to provider.Provider (e2e/pipeline.go; this package may
// not import e2e).
type e2eTarget interface {
	Registry() (string, error)
	ClusterRegistry() (string, error)
	InstallerVariant() string
}

var _ e2eTarget = (*Provider)(nil)

// The registry serves on 127.0.0.1 and on the gateway (here another loopback address), on the
// same port, and both addresses are recorded.
func TestStartRegistryListensOnLoopbackAndGateway(t *testing.T) {
	store, err := state.Open(t.TempDir(), "qtest", ProviderName)
	require.NoError(t, err)
	l := &lab{LabOptions: LabOptions{Store: store, Progress: progress.Discard}}
	l.plan.Gateway = netip.MustParseAddr("127.0.0.2")
	t.Cleanup(func() { assert.NoError(t, l.registry.Close()) })

	require.NoError(t, l.startRegistry(context.Background()))
	host, port, err := net.SplitHostPort(store.Value(KeyRegistry))
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	assert.Equal(t, "127.0.0.2:"+port, store.Value(KeyClusterRegistry), "the same port on the gateway")
	assert.Equal(t, l.clusterRegistry, store.Value(KeyClusterRegistry))
	for _, addr := range []string{store.Value(KeyRegistry), store.Value(KeyClusterRegistry)} {
		resp, err := http.Get("http://" + addr + "/v2/")
		require.NoError(t, err, addr)
		assert.Equal(t, http.StatusOK, resp.StatusCode, addr)
		require.NoError(t, resp.Body.Close())
	}
}

func TestListenOnGatewayTakesAnotherPortWhenItsOwnIsTaken(t *testing.T) {
	reg, err := registry.Start(registry.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, reg.Close()) })
	_, port, err := net.SplitHostPort(reg.Addr())
	require.NoError(t, err)
	busy, err := net.Listen("tcp", "127.0.0.3:"+port)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, busy.Close()) })

	addr, err := listenOnGateway(reg, "127.0.0.3")
	require.NoError(t, err)
	host, other, err := net.SplitHostPort(addr)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.3", host)
	assert.NotEqual(t, port, other)
}

func TestRegistryOfATwinLabRefusesTheE2E(t *testing.T) {
	p := &Provider{Lab: "qtest", Root: t.TempDir()}
	store, err := p.open()
	require.NoError(t, err)
	require.NoError(t, store.Set(map[string]string{KeyNodeImage: NodeImageTwin, KeyRegistry: "127.0.0.1:5000", KeyClusterRegistry: "10.213.7.1:5000"}))

	_, err = p.Registry()
	require.ErrorIs(t, err, ErrTwinE2E)
	assert.Equal(t, "the twin image runs no kubelet, so the e2e pipeline needs LAB_NODE_IMAGE=talos on a KVM host; lab:up works", err.Error())
	_, err = p.ClusterRegistry()
	require.ErrorIs(t, err, ErrTwinE2E)
	assert.Equal(t, "talos", p.InstallerVariant())

	_, err = (&Provider{Lab: "absent", Root: t.TempDir()}).Registry()
	require.ErrorIs(t, err, ErrTwinE2E, "a lab not up yet refuses by the requested image")
}

func TestRegistryOfATalosLab(t *testing.T) {
	p := &Provider{Lab: "qtest", Root: t.TempDir(), NodeImage: NodeImageTalos}
	_, err := p.Registry()
	require.Error(t, err)
	assert.Equal(t, "QEMU lab qtest has no artifact registry yet: run `go run mage.go lab:up`", err.Error())

	store, err := p.open()
	require.NoError(t, err)
	require.NoError(t, store.Set(map[string]string{KeyNodeImage: NodeImageTalos, KeyRegistry: "127.0.0.1:5000", KeyClusterRegistry: "10.213.7.1:5000"}))
	require.NoError(t, recordNetwork(store, testPlan(t), network.HostChanges{}))
	reg, err := p.Registry()
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5000", reg)
	cluster, err := p.ClusterRegistry()
	require.NoError(t, err)
	assert.Equal(t, "10.213.7.1:5000", cluster)

	st, err := p.Status(context.Background())
	require.NoError(t, err)
	var found bool
	for _, c := range st.Components {
		if c.Name == "artifact registry" {
			found = true
			assert.Equal(t, "127.0.0.1:5000 (harness), 10.213.7.1:5000 (nodes), in the lab daemon", c.Detail)
		}
	}
	assert.True(t, found, "lab:status shows the registry")
}
