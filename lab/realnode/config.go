package realnode

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"path/filepath"

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

// CNIBinDir is where Debian's containernetworking-plugins package puts the plugins.
const CNIBinDir = "/usr/lib/cni"

// paths are the node's files under its run directory. Socket paths must stay short (108 bytes).
type paths struct {
	dir                                       string
	containerdConfig, containerdRoot, state   string
	socket, runcRoot, certsDir, optDir        string
	cniConfDir, cniData                       string
	kubeletConfig, kubeletKubeconfig, rootDir string
	podLogs, volumePlugins                    string
	kubeletCert, kubeletKey, caCert           string
	proxyConfig, proxyKubeconfig, netns       string
}

func pathsIn(dir string) paths {
	j := func(p ...string) string { return filepath.Join(append([]string{dir}, p...)...) }
	return paths{
		dir:              dir,
		containerdConfig: j("containerd.toml"), containerdRoot: j("containerd", "root"), state: j("containerd", "state"),
		socket: j("containerd.sock"), runcRoot: j("runc"), certsDir: j("certs.d"), optDir: j("containerd", "opt"),
		cniConfDir: j("cni", "net.d"), cniData: j("cni", "ipam"),
		kubeletConfig: j("kubelet.yaml"), kubeletKubeconfig: j("kubelet.kubeconfig"), rootDir: j("kubelet"),
		podLogs: j("pod-logs"), volumePlugins: j("volume-plugins"),
		kubeletCert: j("pki", "kubelet.crt"), kubeletKey: j("pki", "kubelet.key"), caCert: j("pki", "ca.crt"),
		proxyConfig: j("kube-proxy.yaml"), proxyKubeconfig: j("kube-proxy.kubeconfig"), netns: j("netns"),
	}
}

// containerdConfig is containerd 1.6's configuration (version 2) for this node, as measured to
// work here (see the package's reference, real-node.md): everything under the run directory,
// cgroupfs, no oom_score_adj below what this kernel lets runc set.
func containerdConfig(p paths, pauseImage string) ([]byte, error) {
	cri := map[string]any{
		"sandbox_image":                pauseImage,
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
				"options":      map[string]any{"SystemdCgroup": false, "Root": p.runcRoot},
			}},
		},
		"cni":      map[string]any{"bin_dir": CNIBinDir, "conf_dir": p.cniConfDir, "max_conf_num": 1},
		"registry": map[string]any{"config_path": p.certsDir},
	}
	cfg := map[string]any{
		"version": 2,
		"root":    p.containerdRoot,
		"state":   p.state,
		"disabled_plugins": []string{
			"io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
			"io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs",
			"io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing",
		},
		"grpc":  map[string]any{"address": p.socket},
		"ttrpc": map[string]any{"address": p.socket + ".ttrpc"},
		"plugins": map[string]any{
			"io.containerd.grpc.v1.cri":     cri,
			"io.containerd.internal.v1.opt": map[string]any{"path": p.optDir},
		},
	}
	var b bytes.Buffer
	if err := toml.NewEncoder(&b).Encode(cfg); err != nil {
		return nil, fmt.Errorf("encode containerd's configuration: %w", err)
	}
	return b.Bytes(), nil
}

// hostsTOML is containerd's registry host configuration (certs.d/<registry>/hosts.toml) that
// sends every pull for that registry to the lab's registry over plain HTTP. Nothing falls back
// to the upstream: an image the lab has not built fails to pull, naming its reference.
func hostsTOML(labRegistry string) []byte {
	u := "http://" + labRegistry
	return fmt.Appendf(nil, "server = %q\n\n[host.%q]\n  capabilities = [\"pull\", \"resolve\"]\n", u, u)
}

// cniConfig is the pods' network: a bridge in the node's namespace, host-local addresses from
// the pods' /25, masquerade for traffic leaving it, portmap for hostPorts.
func cniConfig(plan Plan, p paths) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "0.4.0",
		"name":       cniNetwork(plan),
		"plugins": []any{
			map[string]any{
				"type": "bridge", "bridge": Bridge, "isGateway": true, "ipMasq": true, "hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"ranges":  [][]map[string]string{{{"subnet": plan.Pods.String(), "gateway": plan.PodGateway.String()}}},
					"routes":  []map[string]string{{"dst": "0.0.0.0/0"}},
					"dataDir": p.cniData,
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			map[string]any{"type": "loopback"},
		},
	}
	return json.MarshalIndent(conf, "", "  ")
}

// kubeletConfig is the kubelet's configuration: cgroup v1 with cgroupfs under the lab's own
// cgroup root, the lab's containerd, x509 and webhook authentication, webhook authorization.
func kubeletConfig(plan Plan, p paths, clusterDNS netip.Addr, clusterDomain string) ([]byte, error) {
	cfg := kubeletv1beta1.KubeletConfiguration{
		TypeMeta:                 metav1.TypeMeta{APIVersion: "kubelet.config.k8s.io/v1beta1", Kind: "KubeletConfiguration"},
		FailCgroupV1:             ptr.To(false),
		CgroupDriver:             "cgroupfs",
		CgroupRoot:               plan.CgroupRoot,
		ContainerRuntimeEndpoint: "unix://" + p.socket,
		ImageServiceEndpoint:     "unix://" + p.socket,
		FailSwapOn:               ptr.To(false),
		Address:                  plan.Node.String(),
		ReadOnlyPort:             0,
		HealthzBindAddress:       "127.0.0.1",
		PodLogsDir:               p.podLogs,
		VolumePluginDir:          p.volumePlugins,
		StaticPodPath:            "",
		SerializeImagePulls:      ptr.To(false),
		// The lab's images exist nowhere else: never collect them.
		ImageGCHighThresholdPercent: ptr.To[int32](100),
		ImageGCLowThresholdPercent:  ptr.To[int32](99),
		EvictionHard:                map[string]string{"memory.available": "100Mi", "nodefs.available": "1%", "imagefs.available": "1%"},
		TLSCertFile:                 p.kubeletCert,
		TLSPrivateKeyFile:           p.kubeletKey,
		RotateCertificates:          false,
		ServerTLSBootstrap:          false,
		Authentication: kubeletv1beta1.KubeletAuthentication{
			X509:      kubeletv1beta1.KubeletX509Authentication{ClientCAFile: p.caCert},
			Webhook:   kubeletv1beta1.KubeletWebhookAuthentication{Enabled: ptr.To(true)},
			Anonymous: kubeletv1beta1.KubeletAnonymousAuthentication{Enabled: ptr.To(false)},
		},
		Authorization:  kubeletv1beta1.KubeletAuthorization{Mode: kubeletv1beta1.KubeletAuthorizationModeWebhook},
		ClusterDomain:  clusterDomain,
		ResolverConfig: ptr.To(""), // the host's resolvers are not reachable from the node: pods use cluster DNS only
	}
	if clusterDNS.IsValid() {
		cfg.ClusterDNS = []string{clusterDNS.String()}
	}
	return yaml.Marshal(cfg)
}

// kubeletArgs are the kubelet's flags (what its configuration file cannot say).
func kubeletArgs(plan Plan, p paths) []string {
	return []string{
		"--config=" + p.kubeletConfig, "--kubeconfig=" + p.kubeletKubeconfig, "--root-dir=" + p.rootDir,
		"--hostname-override=" + NodeName, "--node-ip=" + plan.Node.String(),
		"--node-labels=" + RealNodeLabel + "=true",
	}
}

// RealNodeLabel marks the real node (the kwok nodes carry kwok's annotation instead); the node
// is also tainted with it (NoSchedule), so a pod runs here only when it asks to: Placement.
const RealNodeLabel = "cozylab.io/real-node"

// Placement pins a pod to the real node: its node selector and toleration.
func Placement(spec *corev1.PodSpec) {
	if spec.NodeSelector == nil {
		spec.NodeSelector = map[string]string{}
	}
	spec.NodeSelector[RealNodeLabel] = "true"
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: RealNodeLabel, Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule})
}

// kubeProxyConfig is kube-proxy's configuration: nftables mode in the node's namespace; it
// leaves the conntrack sysctls (global on this kernel) as they are.
func kubeProxyConfig(plan Plan, p paths) ([]byte, error) {
	cfg := kubeproxyv1alpha1.KubeProxyConfiguration{
		TypeMeta:           metav1.TypeMeta{APIVersion: "kubeproxy.config.k8s.io/v1alpha1", Kind: "KubeProxyConfiguration"},
		ClientConnection:   componentbasev1alpha1.ClientConnectionConfiguration{Kubeconfig: p.proxyKubeconfig},
		Mode:               "nftables",
		ClusterCIDR:        plan.Pods.String(),
		HostnameOverride:   NodeName,
		BindAddress:        plan.Node.String(),
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

// kubeconfigFor is a kubeconfig for a client-certificate user of the API server at server.
func kubeconfigFor(server string, caPEM, certPEM, keyPEM []byte) ([]byte, error) {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["lab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: caPEM}
	cfg.AuthInfos["node"] = &clientcmdapi.AuthInfo{ClientCertificateData: certPEM, ClientKeyData: keyPEM}
	cfg.Contexts["lab"] = &clientcmdapi.Context{Cluster: "lab", AuthInfo: "node"}
	cfg.CurrentContext = "lab"
	return clientcmd.Write(*cfg)
}

// cniNetwork names the pods' network; containerd's CNI result cache (/var/lib/cni/results)
// names its files after it, so Clean finds this lab's.
func cniNetwork(plan Plan) string { return "cozylab-" + shortName(plan.Lab) }
