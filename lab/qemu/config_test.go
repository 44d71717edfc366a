package qemu

import (
	"net/netip"
	"path/filepath"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/lab/images"
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

// labConfigs generates the lab's configs as loadConfigs does, for a lab of image.
func labConfigs(t *testing.T, image string) *machineconfig.Result {
	t.Helper()
	plan := testPlan(t)
	patches, err := LabPatches(PatchValues(plan))
	require.NoError(t, err)
	bundle, err := machineconfig.LoadOrCreateSecrets(filepath.Join(t.TempDir(), "secrets.yaml"))
	require.NoError(t, err)
	opts := ConfigOptions(plan, patches)
	opts.HTTPRegistries = []string{"10.213.7.1:5000"}
	opts.RegistryMirrors = RegistryMirrors("10.213.7.1:5000", image != NodeImageTalos)
	res, err := machineconfig.Generate(opts, bundle)
	require.NoError(t, err)
	return res
}

// Every node pulls every mirrored registry's images from the lab registry and nowhere else,
// runs kube-proxy, takes workloads, and gives pods the cluster DNS at 10.96.0.10.
func TestLabConfigsRunPodsFromTheLabRegistry(t *testing.T) {
	for _, n := range labConfigs(t, NodeImageTwin).Nodes {
		cfg, err := configloader.NewFromBytes(n.Config)
		require.NoError(t, err)

		mirrors := cfg.RegistryMirrorConfigs()
		for _, host := range append(images.Hosts(), "docker.io") {
			m, ok := mirrors[host]
			require.True(t, ok, "%s mirrors %s", n.Name, host)
			require.Len(t, m.Endpoints(), 1, host)
			assert.Equal(t, "http://10.213.7.1:5000", m.Endpoints()[0].Endpoint(), host)
			assert.True(t, m.SkipFallback(), "no pull of %s leaves the lab", host)
		}
		assert.Contains(t, mirrors, "10.213.7.1:5000", "the lab registry itself, over plain HTTP")
		assert.Len(t, mirrors, len(mirroredHosts())+1, "no other mirror (the chart's mirror.gcr.io is dropped)")
		assert.NotContains(t, string(n.Config), "mirror.gcr.io")

		assert.True(t, cfg.Cluster().Proxy().Enabled(), "kube-proxy runs: nothing replaces it")
		assert.True(t, cfg.Cluster().ScheduleOnControlPlanes(), "the control planes are the only nodes")
		ips, err := cfg.Cluster().Network().DNSServiceIPs()
		require.NoError(t, err)
		assert.Equal(t, []netip.Addr{netip.MustParseAddr("10.96.0.10")}, ips)

		dns, err := ClusterDNS(n.Config)
		require.NoError(t, err)
		assert.Equal(t, DNSSettings{ServiceIP: netip.MustParseAddr("10.96.0.10"), Domain: "cozy.local"}, dns)
		assert.Equal(t, []string{"cozy.local", "cluster.local"}, dns.dnsDomains())
	}
}

// A real Talos node falls back to the upstream registries for the images Talos runs itself.
func TestTalosConfigsFallBackToUpstream(t *testing.T) {
	cfg, err := configloader.NewFromBytes(labConfigs(t, NodeImageTalos).Nodes[0].Config)
	require.NoError(t, err)
	m, ok := cfg.RegistryMirrorConfigs()["registry.k8s.io"]
	require.True(t, ok)
	assert.False(t, m.SkipFallback())
}

func TestDNSDomains(t *testing.T) {
	assert.Equal(t, []string{"cluster.local"}, DNSSettings{Domain: "cluster.local"}.dnsDomains())
	assert.Equal(t, []string{"cluster.local"}, DNSSettings{}.dnsDomains())
}

func TestEmulationPatch(t *testing.T) {
	plan := testPlan(t)
	patches, err := LabPatches(PatchValues(plan))
	require.NoError(t, err)
	bundle, err := machineconfig.LoadOrCreateSecrets(filepath.Join(t.TempDir(), "secrets.yaml"))
	require.NoError(t, err)
	res, err := machineconfig.Generate(ConfigOptions(plan, append(patches, []byte(EmulationPatch))), bundle)
	require.NoError(t, err)
	cfg, err := configloader.NewFromBytes(res.Nodes[0].Config)
	require.NoError(t, err)
	assert.Equal(t, []string{"5000"}, cfg.Cluster().Etcd().ExtraArgs()["election-timeout"])
	assert.Equal(t, []string{"60s"}, cfg.Cluster().ControllerManager().ExtraArgs()["leader-elect-lease-duration"])
	assert.Equal(t, []string{"0.0.0.0"}, cfg.Cluster().ControllerManager().ExtraArgs()["bind-address"], "the chart's own extraArgs stay")
	assert.Equal(t, []string{"40s"}, cfg.Cluster().Scheduler().ExtraArgs()["leader-elect-renew-deadline"])
}
