package realnode

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/internal/nodeconfig"
)

func TestNewPlan(t *testing.T) {
	p, err := NewPlan("dev", netip.MustParsePrefix("10.213.4.0/24"))
	require.NoError(t, err)
	assert.Equal(t, "10.213.4.1", p.Host.String())
	assert.Equal(t, "10.213.4.2", p.Node.String())
	assert.Equal(t, "10.213.4.128/25", p.Pods.String())
	assert.Equal(t, "10.213.4.129", p.PodGateway.String())
	assert.Equal(t, "czn-dev", p.HostLink)
	assert.Equal(t, "/cozylab-dev", p.CgroupRoot)
	require.NoError(t, p.Validate())

	long, err := NewPlan("a-rather-long-lab-name", netip.MustParsePrefix("10.213.5.0/24"))
	require.NoError(t, err)
	assert.LessOrEqual(t, len(long.HostLink), 15, "a link name has at most 15 bytes")
	other, err := NewPlan("a-rather-long-lab-name2", netip.MustParsePrefix("10.213.5.0/24"))
	require.NoError(t, err)
	assert.NotEqual(t, long.HostLink, other.HostLink)

	_, err = NewPlan("dev", netip.MustParsePrefix("10.213.0.0/16"))
	assert.ErrorContains(t, err, "use an IPv4 /24")
	tampered := p
	tampered.Node = netip.MustParseAddr("10.213.4.9")
	assert.ErrorContains(t, tampered.Validate(), "does not match")
}

func TestConfigs(t *testing.T) {
	p, err := NewPlan("dev", netip.MustParsePrefix("10.213.4.0/24"))
	require.NoError(t, err)
	paths := pathsIn("/run/lab/node")

	n := node(p, "registry.k8s.io/pause:3.10.1", netip.MustParseAddr("10.96.0.10"), "cluster.local")
	raw, err := nodeconfig.Containerd(paths.Paths, n)
	require.NoError(t, err)
	var c struct {
		Version int
		Root    string
		GRPC    struct{ Address string } `toml:"grpc"`
		Plugins map[string]map[string]any
	}
	require.NoError(t, toml.Unmarshal(raw, &c), "%s", raw)
	assert.Equal(t, 2, c.Version)
	assert.Equal(t, "/run/lab/node/containerd.sock", c.GRPC.Address)
	cri := c.Plugins["io.containerd.grpc.v1.cri"]
	assert.Equal(t, "registry.k8s.io/pause:3.10.1", cri["sandbox_image"])
	assert.Equal(t, true, cri["restrict_oom_score_adj"], "runc cannot lower oom_score_adj on this kernel")
	assert.Equal(t, "/run/lab/node/certs.d", cri["registry"].(map[string]any)["config_path"])
	assert.Contains(t, string(raw), `SystemdCgroup = false`)

	assert.Equal(t, "server = \"http://10.213.4.1:5000\"\n\n[host.\"http://10.213.4.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
		string(nodeconfig.HostsTOML("http://10.213.4.1:5000")))

	kraw, err := nodeconfig.Kubelet(paths.Paths, n)
	require.NoError(t, err)
	var k kubeletv1beta1.KubeletConfiguration
	require.NoError(t, yaml.UnmarshalStrict(kraw, &k))
	assert.False(t, *k.Authentication.Anonymous.Enabled, "no anonymous kubelet")
	assert.True(t, *k.Authentication.Webhook.Enabled)
	assert.Equal(t, kubeletv1beta1.KubeletAuthorizationModeWebhook, k.Authorization.Mode)
	assert.Equal(t, "/cozylab-dev", k.CgroupRoot)
	assert.Equal(t, []string{"10.96.0.10"}, k.ClusterDNS)
	assert.False(t, *k.FailCgroupV1)
	assert.Equal(t, []string{"--config=/run/lab/node/kubelet.yaml", "--kubeconfig=/run/lab/node/kubelet.kubeconfig", "--root-dir=/run/lab/node/kubelet",
		"--hostname-override=node1", "--node-ip=10.213.4.2", "--node-labels=cozylab.io/real-node=true"}, nodeconfig.KubeletArgs(paths.Paths, n))

	cni, err := nodeconfig.CNI(paths.Paths, bridge(p))
	require.NoError(t, err)
	assert.Contains(t, string(cni), `"subnet": "10.213.4.128/25"`)
	assert.Contains(t, string(cni), `"name": "cozylab-dev"`)
	assert.True(t, strings.Contains(string(cni), `"bridge": "cozy0"`))
}
