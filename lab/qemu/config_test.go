package qemu

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/lab/qemu/network"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/talos/machineconfig"
)

func testPlan(t *testing.T) network.Plan {
	t.Helper()
	plan, err := network.NewPlan("qtest", NodeCount, netip.MustParsePrefix("10.213.7.0/24"))
	require.NoError(t, err)
	return plan
}

func TestConfigOptionsFollowThePlan(t *testing.T) {
	plan := testPlan(t)
	o := ConfigOptions(plan, nil)
	assert.Equal(t, "qtest", o.ClusterName)
	assert.Equal(t, netip.MustParseAddr("10.213.7.10"), o.VIP)
	require.Len(t, o.Nodes, 3)
	for i, want := range []string{"srv1", "srv2", "srv3"} {
		assert.Equal(t, want, o.Nodes[i].Name)
		assert.Equal(t, netip.MustParsePrefix([]string{"10.213.7.11/24", "10.213.7.12/24", "10.213.7.13/24"}[i]), o.Nodes[i].Address)
		assert.Equal(t, vm.MAC("qtest", want).String(), o.Nodes[i].MAC.String(), "the config's link MAC is the VM's")
	}
}

func TestLabPatchesRenderTheLabSubnet(t *testing.T) {
	plan := testPlan(t)
	patches, err := LabPatches(PatchValues(plan))
	require.NoError(t, err)
	require.Len(t, patches, 2, "the cluster patch, then the control-plane patch")

	var cluster, cp map[string]any
	require.NoError(t, yaml.Unmarshal(patches[0], &cluster))
	require.NoError(t, yaml.Unmarshal(patches[1], &cp))
	kubelet := cluster["machine"].(map[string]any)["kubelet"].(map[string]any)
	assert.Equal(t, []any{"10.213.7.0/24"}, kubelet["nodeIP"].(map[string]any)["validSubnets"])
	assert.NotContains(t, cluster["cluster"], "apiServer", "no OIDC flags: the lab has no identity provider")
	assert.NotContains(t, cp["machine"], "network", "the VIP comes from machineconfig, bound by MAC")
	apiServer := cp["cluster"].(map[string]any)["apiServer"].(map[string]any)
	assert.Contains(t, apiServer["certSANs"], "10.213.7.10")
}

// The patched configs are what the nodes boot with: they must generate and validate.
func TestLabConfigsGenerate(t *testing.T) {
	plan := testPlan(t)
	patches, err := LabPatches(PatchValues(plan))
	require.NoError(t, err)
	bundle, err := machineconfig.LoadOrCreateSecrets(filepath.Join(t.TempDir(), "secrets.yaml"))
	require.NoError(t, err)
	res, err := machineconfig.Generate(ConfigOptions(plan, patches), bundle)
	require.NoError(t, err)
	require.Len(t, res.Nodes, 3)
	for i, n := range res.Nodes {
		assert.Equal(t, plan.Nodes[i].Addr, n.Address)
		assert.Contains(t, string(n.Config), "https://10.213.7.10:6443")
		assert.Contains(t, string(n.Config), "10.213.7.0/24")
	}
}

func TestSeedConfigFollowsThePlan(t *testing.T) {
	plan := testPlan(t)
	c := SeedConfig(plan, 1, []byte("machine: {}\n"))
	require.NoError(t, c.Validate())
	assert.Equal(t, "srv2", c.Hostname)
	assert.Equal(t, "qtest-srv2", c.InstanceID)
	assert.Equal(t, vm.MAC("qtest", "srv2"), c.MAC)
	assert.Equal(t, netip.MustParsePrefix("10.213.7.12/24"), c.Address)
	assert.Equal(t, netip.MustParseAddr("10.213.7.1"), c.Gateway)
}
