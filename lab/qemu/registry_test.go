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
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/lab/state"
)

// The registry serves on 127.0.0.1 and on the gateway (here another loopback address), on the
// same port, and both addresses are recorded.
func TestStartRegistryListensOnLoopbackAndGateway(t *testing.T) {
	store, err := state.Create(t.TempDir(), state.Request{Name: "qtest", Provider: ProviderName})
	require.NoError(t, err)
	l := &lab{store: store, Progress: progress.Discard}
	l.plan.Gateway = netip.MustParseAddr("127.0.0.2")
	t.Cleanup(func() { assert.NoError(t, l.registry.Close()) })

	require.NoError(t, l.startRegistry(context.Background(), progress.Discard.Begin("")))
	f, err := state.LoadFacts[facts](store)
	require.NoError(t, err)
	host, port, err := net.SplitHostPort(f.Registry)
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1", host)
	assert.Equal(t, "127.0.0.2:"+port, f.ClusterRegistry, "the same port on the gateway")
	assert.Equal(t, l.clusterRegistry, f.ClusterRegistry)
	for _, addr := range []string{f.Registry, f.ClusterRegistry} {
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

// Both node images run the platform: a twin lab hands out its registry like a Talos lab.
func TestRegistryOfATwinLab(t *testing.T) {
	req := state.Request{Name: "qtest", Provider: ProviderName, QEMU: &state.QEMURequest{NodeImage: NodeImageTwin}}
	p := New(t.TempDir(), req)
	require.NoError(t, p.CanRunPlatform())
	store, err := state.Create(p.Root, req)
	require.NoError(t, err)
	require.NoError(t, state.UpdateFacts(store, func(f *facts) { f.Registry, f.ClusterRegistry = "127.0.0.1:5000", "10.213.7.1:5000" }))

	reg, err := p.Registry()
	require.NoError(t, err)
	assert.Equal(t, "127.0.0.1:5000", reg)
	cluster, err := p.ClusterRegistry()
	require.NoError(t, err)
	assert.Equal(t, "10.213.7.1:5000", cluster)
	assert.Equal(t, "talos", p.OperatorVariant(), "the operator reaches the API as on any Talos cluster (KubePrism)")
}

func TestRegistryOfATalosLab(t *testing.T) {
	req := state.Request{Name: "qtest", Provider: ProviderName, QEMU: &state.QEMURequest{NodeImage: NodeImageTalos}}
	p := New(t.TempDir(), req)
	require.NoError(t, p.CanRunPlatform())
	_, err := p.Registry()
	require.Error(t, err)
	assert.Equal(t, "QEMU lab qtest has no artifact registry yet: run `go run mage.go lab:up`", err.Error())

	store, err := state.Create(p.Root, req)
	require.NoError(t, err)
	plan := testPlan(t)
	require.NoError(t, state.UpdateFacts(store, func(f *facts) {
		f.Registry, f.ClusterRegistry, f.Network = "127.0.0.1:5000", "10.213.7.1:5000", &plan
	}))
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
