package nodeconfig

import (
	"encoding/json"
	"net/netip"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"sigs.k8s.io/yaml"
)

var testPaths = Paths{
	ContainerdConfig: "/etc/containerd.toml", ContainerdRoot: "/var/lib/containerd", ContainerdState: "/run/containerd",
	Socket: "/run/containerd/containerd.sock", RuncRoot: "/run/runc", CertsDir: "/etc/containerd/certs.d",
	CNIBinDir: "/usr/lib/cni", CNIConfDir: "/etc/cni/net.d", CNIData: "/var/lib/cni",
	KubeletConfig: "/etc/kubelet.yaml", KubeletKubeconfig: "/etc/kubelet.kubeconfig", KubeletRoot: "/var/lib/kubelet",
	KubeletCert: "/pki/kubelet.crt", KubeletKey: "/pki/kubelet.key", ClientCA: "/pki/ca.crt",
	ProxyConfig: "/etc/kube-proxy.yaml", ProxyKubeconfig: "/etc/kube-proxy.kubeconfig",
}

var testNode = Node{
	Name: "srv2", Address: netip.MustParseAddr("192.168.100.12"), PauseImage: "registry.k8s.io/pause:3.10.1", NoPivotRoot: true,
	ClusterDNS: netip.MustParseAddr("10.96.0.10"), ClusterDomain: "cozy.local", ClusterCIDR: "100.65.0.0/16", MaxPods: 512,
	Labels: map[string]string{"b": "2", "a": "1"},
	Taints: []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}},
}

func TestContainerd(t *testing.T) {
	raw, err := Containerd(testPaths, testNode)
	require.NoError(t, err)
	var c struct {
		Plugins map[string]struct {
			SandboxImage string `toml:"sandbox_image"`
			Containerd   struct {
				Runtimes map[string]struct{ Options map[string]any }
			}
		}
	}
	require.NoError(t, toml.Unmarshal(raw, &c), "%s", raw)
	cri := c.Plugins["io.containerd.grpc.v1.cri"]
	assert.Equal(t, "registry.k8s.io/pause:3.10.1", cri.SandboxImage)
	assert.Equal(t, true, cri.Containerd.Runtimes["runc"].Options["NoPivotRoot"], "an initramfs root cannot be pivoted away")

	n := testNode
	n.NoPivotRoot = false
	raw, err = Containerd(testPaths, n)
	require.NoError(t, err)
	assert.NotContains(t, string(raw), "NoPivotRoot")
}

func TestHostsTOML(t *testing.T) {
	assert.Equal(t, "server = \"http://10.0.0.1:5000\"\n\n[host.\"http://10.0.0.1:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n\n"+
		"[host.\"http://10.0.0.2:5000\"]\n  capabilities = [\"pull\", \"resolve\"]\n",
		string(HostsTOML("http://10.0.0.1:5000", "http://10.0.0.2:5000")))
	assert.Nil(t, HostsTOML())
}

func TestKubelet(t *testing.T) {
	raw, err := Kubelet(testPaths, testNode)
	require.NoError(t, err)
	var k kubeletv1beta1.KubeletConfiguration
	require.NoError(t, yaml.UnmarshalStrict(raw, &k))
	assert.False(t, *k.Authentication.Anonymous.Enabled)
	assert.Equal(t, []string{"10.96.0.10"}, k.ClusterDNS)
	assert.Equal(t, "cozy.local", k.ClusterDomain)
	assert.Equal(t, int32(512), k.MaxPods)
	assert.Equal(t, testNode.Taints, k.RegisterWithTaints)
	assert.Equal(t, "unix:///run/containerd/containerd.sock", k.ContainerRuntimeEndpoint)
	assert.Equal(t, []string{"--config=/etc/kubelet.yaml", "--kubeconfig=/etc/kubelet.kubeconfig", "--root-dir=/var/lib/kubelet",
		"--hostname-override=srv2", "--node-ip=192.168.100.12", "--node-labels=a=1,b=2"}, KubeletArgs(testPaths, testNode))
}

func TestKubeProxyAndCNI(t *testing.T) {
	raw, err := KubeProxy(testPaths, testNode)
	require.NoError(t, err)
	var p kubeproxyv1alpha1.KubeProxyConfiguration
	require.NoError(t, yaml.UnmarshalStrict(raw, &p))
	assert.Equal(t, "nftables", string(p.Mode))
	assert.Equal(t, "100.65.0.0/16", p.ClusterCIDR)
	assert.Equal(t, "/etc/kube-proxy.kubeconfig", p.ClientConnection.Kubeconfig)

	raw, err = CNI(testPaths, Bridge{Network: "twin", Device: "cni0", Pods: netip.MustParsePrefix("100.65.1.0/24"), Gateway: netip.MustParseAddr("100.65.1.1")})
	require.NoError(t, err)
	var conf struct {
		Name    string
		Plugins []map[string]any
	}
	require.NoError(t, json.Unmarshal(raw, &conf))
	assert.Equal(t, "twin", conf.Name)
	assert.Equal(t, "cni0", conf.Plugins[0]["bridge"])
	assert.Contains(t, string(raw), `"subnet": "100.65.1.0/24"`)
}

func TestKubeconfig(t *testing.T) {
	raw, err := Kubeconfig("https://localhost:7445", []byte("ca"), []byte("cert"), []byte("key"))
	require.NoError(t, err)
	cfg, err := clientcmd.Load(raw)
	require.NoError(t, err)
	assert.Equal(t, "https://localhost:7445", cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster].Server)
	assert.Equal(t, []byte("cert"), cfg.AuthInfos["node"].ClientCertificateData)
}
