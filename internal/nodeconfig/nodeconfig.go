// Package nodeconfig renders the configuration of a Kubernetes node's programs — containerd
// (with its registry hosts), the CNI network, the kubelet, kube-proxy and their kubeconfigs —
// from plain facts about the node. Two nodes use it: the local lab's real node (lab/realnode),
// which lives in a network namespace on this host, and the Talos twin's node inside a QEMU
// guest (talos/twin), which derives the facts from its machine config as Talos does.
//
// It writes nothing and starts nothing; what differs between the two is in Node.
package nodeconfig

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"

	"github.com/BurntSushi/toml"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	componentbasev1alpha1 "k8s.io/component-base/config/v1alpha1"
	kubeproxyv1alpha1 "k8s.io/kube-proxy/config/v1alpha1"
	kubeletv1beta1 "k8s.io/kubelet/config/v1beta1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/yaml"
)

// Paths are where a node's programs keep their files. Socket paths must stay short (108 bytes).
type Paths struct {
	ContainerdConfig, ContainerdRoot, ContainerdState, ContainerdOpt string
	// Socket is containerd's gRPC socket (ttrpc gets Socket+".ttrpc").
	Socket string
	// RuncRoot is runc's state directory; CertsDir holds <registry>/hosts.toml.
	RuncRoot, CertsDir string
	// CNIBinDir holds the plugins; CNIConfDir the network list; CNIData host-local's leases.
	CNIBinDir, CNIConfDir, CNIData string
	// The kubelet's configuration, kubeconfig, root, pod logs and volume plugins.
	KubeletConfig, KubeletKubeconfig, KubeletRoot, PodLogs, VolumePlugins string
	// The kubelet's serving certificate and key, and the CA its clients must present.
	KubeletCert, KubeletKey, ClientCA string
	// kube-proxy's configuration and kubeconfig.
	ProxyConfig, ProxyKubeconfig string
}

// PathsIn lays a node's files out under dir (the plugins stay in cniBinDir), the same way for
// every node: short names, so the sockets fit.
func PathsIn(dir, cniBinDir string) Paths {
	j := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	return Paths{
		ContainerdConfig: j("containerd.toml"), ContainerdRoot: j("containerd", "root"), ContainerdState: j("containerd", "state"),
		ContainerdOpt: j("containerd", "opt"), Socket: j("containerd.sock"), RuncRoot: j("runc"), CertsDir: j("certs.d"),
		CNIBinDir: cniBinDir, CNIConfDir: j("cni", "net.d"), CNIData: j("cni", "ipam"),
		KubeletConfig: j("kubelet.yaml"), KubeletKubeconfig: j("kubelet.kubeconfig"), KubeletRoot: j("kubelet"),
		PodLogs: j("pod-logs"), VolumePlugins: j("volume-plugins"),
		KubeletCert: j("pki", "kubelet.crt"), KubeletKey: j("pki", "kubelet.key"), ClientCA: j("pki", "ca.crt"),
		ProxyConfig: j("kube-proxy.yaml"), ProxyKubeconfig: j("kube-proxy.kubeconfig"),
	}
}

// Node is what the configuration says about the node.
type Node struct {
	// Name is the node's name in the cluster; Address its InternalIP.
	Name    string
	Address netip.Addr
	// PauseImage is the pods' sandbox image.
	PauseImage string
	// NoPivotRoot makes runc enter containers with chroot instead of pivot_root, which fails
	// when the node's root is an initramfs.
	NoPivotRoot bool
	// CgroupRoot is the kubelet's cgroup root ("" for /).
	CgroupRoot string
	// ClusterDNS and ClusterDomain are the pods' resolver; ResolverConfig is the host resolv.conf
	// pods with dnsPolicy Default get ("" gives them none: the host's is not reachable).
	ClusterDNS     netip.Addr
	ClusterDomain  string
	ResolverConfig string
	// Labels and Taints are what the kubelet registers the node with.
	Labels map[string]string
	Taints []corev1.Taint
	// MaxPods caps the pods of the node (the kubelet's default 110 when zero).
	MaxPods int32
	// ClusterCIDR is the pods' range of the whole cluster (kube-proxy's notion of "local").
	ClusterCIDR string
}

// Containerd is containerd 1.6's configuration (version 2) for the node: everything under
// Paths, cgroupfs, no oom_score_adj below what the kernel lets runc set.
func Containerd(p Paths, n Node) ([]byte, error) {
	runcOptions := map[string]any{"SystemdCgroup": false, "Root": p.RuncRoot}
	if n.NoPivotRoot {
		runcOptions["NoPivotRoot"] = true
	}
	cri := map[string]any{
		"sandbox_image":                n.PauseImage,
		"netns_mounts_under_state_dir": true,
		"restrict_oom_score_adj":       true,
		// Pods bind low ports without a capability (CoreDNS on :53 as a non-root user), as
		// containerd 2 does by default.
		"enable_unprivileged_ports": true,
		"enable_unprivileged_icmp":  true,
		"stream_server_address":     "127.0.0.1",
		"stream_server_port":        "0",
		"containerd": map[string]any{
			"snapshotter":          "overlayfs",
			"default_runtime_name": "runc",
			"runtimes": map[string]any{"runc": map[string]any{
				"runtime_type": "io.containerd.runc.v2",
				"options":      runcOptions,
			}},
		},
		"cni":      map[string]any{"bin_dir": p.CNIBinDir, "conf_dir": p.CNIConfDir, "max_conf_num": 1},
		"registry": map[string]any{"config_path": p.CertsDir},
	}
	cfg := map[string]any{
		"version": 2,
		"root":    p.ContainerdRoot,
		"state":   p.ContainerdState,
		"disabled_plugins": []string{
			"io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
			"io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
			"io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
		},
		"grpc":  map[string]any{"address": p.Socket},
		"ttrpc": map[string]any{"address": p.Socket + ".ttrpc"},
		"plugins": map[string]any{
			"io.containerd.grpc.v1.cri":     cri,
			"io.containerd.internal.v1.opt": map[string]any{"path": p.ContainerdOpt},
		},
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		return nil, fmt.Errorf("encode containerd's configuration: %w", err)
	}
	return b.Bytes(), nil
}

// HostsTOML is containerd's registry host configuration (certs.d/<registry>/hosts.toml) that
// sends every pull for that registry to endpoints, in order ("http://host:port" for a plain
// HTTP registry). The first endpoint is also the server: nothing falls back to the upstream,
// so an image the endpoints lack fails to pull, naming its reference.
func HostsTOML(endpoints ...string) []byte {
	if len(endpoints) == 0 {
		return nil
	}
	b := fmt.Appendf(nil, "server = %q\n", endpoints[0])
	for _, e := range endpoints {
		b = fmt.Appendf(b, "\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", e)
	}
	return b
}

// Bridge is a CNI network of one bridge on the node: host-local addresses from Pods, the bridge
// holding Gateway, masquerade for traffic leaving Pods, portmap for hostPorts.
type Bridge struct {
	Network, Device string
	Pods            netip.Prefix
	Gateway         netip.Addr
}

// CNI is the pods' network list for b.
func CNI(p Paths, b Bridge) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       b.Network,
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": b.Device, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": b.Pods.String(), "gateway": b.Gateway.String()}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": p.CNIData,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			map[string]any{"type": "loopback"},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// Kubelet is the kubelet's configuration: cgroupfs (v1 or v2) under the node's cgroup root, the
// node's containerd, x509 and webhook authentication, webhook authorization, no anonymous
// access, and the lab's images never collected (they exist nowhere else).
func Kubelet(p Paths, n Node) ([]byte, error) {
	cfg := kubeletv1beta1.KubeletConfiguration{
		TypeMeta:                    metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		FailCgroupV1:                ptr.To(false),
		CgroupDriver:                "cgroupfs",
		CgroupRoot:                  n.CgroupRoot,
		ContainerRuntimeEndpoint:    "unix://" + p.Socket,
		ImageServiceEndpoint:        "unix://" + p.Socket,
		FailSwapOn:                  ptr.To(false),
		Address:                     n.Address.String(),
		ReadOnlyPort:                0,
		HealthzBindAddress:          "127.0.0.1",
		PodLogsDir:                  p.PodLogs,
		VolumePluginDir:             p.VolumePlugins,
		StaticPodPath:               "",
		SerializeImagePulls:         ptr.To(false),
		ImageGCHighThresholdPercent: ptr.To[int32](100),
		ImageGCLowThresholdPercent:  ptr.To[int32](99),
		EvictionHard:                map[string]string{"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
		TLSCertFile:                 p.KubeletCert,
		TLSPrivateKeyFile:           p.KubeletKey,
		RotateCertificates:          false,
		ServerTLSBootstrap:          false,
		Authentication: kubeletv1beta1.KubeletAuthentication{
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: p.ClientCA},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:      kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		ClusterDomain:      n.ClusterDomain,
		ResolverConfig:     ptr.To(n.ResolverConfig),
		RegisterWithTaints: slices.Clone(n.Taints),
		MaxPods:            n.MaxPods,
	}
	if n.ClusterDNS.IsValid() {
		cfg.ClusterDNS = []string{n.ClusterDNS.String()}
	}
	return yaml.Marshal(cfg)
}

// KubeletArgs are the kubelet's flags (what its configuration file cannot say).
func KubeletArgs(p Paths, n Node) []string {
	args := []string{
		"--config=" + p.KubeletConfig, "--kubeconfig=" + p.KubeletKubeconfig, "--root-dir=" + p.KubeletRoot,
		"--hostname-override=" + n.Name, "--node-ip=" + n.Address.String(),
	}
	if labels := labelList(n.Labels); labels != "" {
		args = append(args, "--node-labels="+labels)
	}
	return args
}

// labelList is labels as the kubelet's --node-labels takes them, sorted.
func labelList(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var b bytes.Buffer
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, "%s=%s", k, labels[k])
	}
	return b.String()
}

// KubeProxy is kube-proxy's configuration: nftables mode, bound to the node's address; it
// leaves the conntrack sysctls as they are (global on a shared kernel).
func KubeProxy(p Paths, n Node) ([]byte, error) {
	cfg := kubeproxyv1alpha1.KubeProxyConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		ClientConnection:   componentbasev1alpha1.ClientConnectionConfiguration{Kubeconfig: p.ProxyKubeconfig},
		Mode:               "nftables",
		ClusterCIDR:        n.ClusterCIDR,
		HostnameOverride:   n.Name,
		BindAddress:        n.Address.String(),
		HealthzBindAddress: "127.0.0.1:10256",
		MetricsBindAddress: "127.0.0.1:10249",
		Conntrack: kubeproxyv1alpha1.KubeProxyConntrackConfiguration{
			MaxPerCore:            ptr.To[int32](0),
			TCPEstablishedTimeout: &metav1.Duration{},
			TCPCloseWaitTimeout:   &metav1.Duration{},
		},
	}
	return yaml.Marshal(cfg)
}

// Kubeconfig is a kubeconfig for a client-certificate user of the API server at server.
func Kubeconfig(server string, caPEM, certPEM, keyPEM []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["node"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "node"}
	cfg.CurrentContext = "lab"
	return clientcmd.Write(*cfg)
}
