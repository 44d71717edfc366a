package twin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/siderolabs/talos/pkg/machinery/config"
	corev1 "k8s.io/api/core/v1"

	"github.com/cozylab/cozylab/internal/nodeconfig"
)

// PauseImage is the pods' sandbox image; a Talos release pins its own the same way.
const PauseImage = "registry.k8s.io/pause:3.10.1"

// Ports of the node's Kubernetes components' health endpoints (their defaults).
const (
	controllerManagerPort = 10257
	schedulerPort         = 10259
	kubeletHealthzPort    = 10248
	proxyHealthzPort      = 10256
)

// controlPlaneTaint keeps workloads off a control-plane node unless the config's
// cluster.allowSchedulingOnControlPlanes says otherwise, as Talos taints it.
const controlPlaneTaint = "node-role.kubernetes.io/control-plane"

// KubeOptions make a ProcessNode a Kubernetes node as a Talos control plane is one: besides
// etcd and kube-apiserver it runs kube-controller-manager and kube-scheduler (leader-elected
// across the control planes), and a kubelet on containerd with kube-proxy, all configured from
// the machine config. The node is its own pod network: a bridge on the pod CIDR the controller
// manager gives it, and routes to the other nodes' pod CIDRs (Routes), as a host-gateway CNI.
type KubeOptions struct {
	// The programs' binaries.
	ControllerManager, Scheduler, Containerd, Kubelet, KubeProxy string
	// CNIBinDir holds the CNI plugins (bridge, host-local, loopback, portmap).
	CNIBinDir string
	// NoPivotRoot makes runc enter containers with chroot: an initramfs root cannot be pivoted.
	NoPivotRoot bool
	// Routes, when set, is given the routes to every other node's pod CIDR each time they
	// change; it makes the node's routing table say exactly that.
	Routes func(ctx context.Context, routes []PodRoute) error
}

// PodRoute sends a node's pod CIDR to that node's address.
type PodRoute struct {
	Node string
	Pods netip.Prefix
	Via  netip.Addr
}

// kubeFacts are what the node's Kubernetes programs need from the machine config.
type kubeFacts struct {
	podCIDRs     string
	clusterDNS   netip.Addr
	proxy        bool
	prismPort    int // 0: KubePrism off
	labels       map[string]string
	taints       []corev1.Taint
	maxPods      int32
	mirrors      map[string][]string
	cmArgs       map[string][]string
	schedArgs    map[string][]string
	endpointPort string
}

func kubeFactsFromConfig(cfg config.Provider) (kubeFacts, error) {
	c, m := cfg.Cluster(), cfg.Machine()
	f := kubeFacts{
		podCIDRs:  strings.Join(c.Network().PodCIDRs(), ","),
		proxy:     c.Proxy().Enabled(),
		labels:    map[string]string{controlPlaneTaint: ""},
		mirrors:   map[string][]string{},
		cmArgs:    c.ControllerManager().ExtraArgs(),
		schedArgs: c.Scheduler().ExtraArgs(),
	}
	if f.podCIDRs == "" {
		return f, errors.New("read pod CIDRs: the config has none (cluster.network.podSubnets)")
	}

	f.endpointPort = c.Endpoint().Port()
	if f.endpointPort == "" {
		f.endpointPort = fmt.Sprint(apiServerPort)
	}

	if dns := m.Kubelet().ClusterDNS(); len(dns) > 0 {
		f.clusterDNS, _ = netip.ParseAddr(dns[0]) //nolint:errcheck // validated by machinery
	} else if ips, err := c.Network().DNSServiceIPs(); err == nil && len(ips) > 0 {
		f.clusterDNS = ips[0]
	}

	if kp := m.Features().KubePrism(); kp != nil && kp.Enabled() {
		f.prismPort = kp.Port()
	}

	for k, v := range m.NodeLabels() {
		f.labels[k] = v
	}

	if !c.ScheduleOnControlPlanes() {
		f.taints = append(f.taints, corev1.Taint{Key: controlPlaneTaint, Effect: corev1.TaintEffectNoSchedule})
	}

	for k, v := range m.NodeTaints() {
		t, err := parseTaint(k, v)
		if err != nil {
			return f, err
		}

		f.taints = append(f.taints, t)
	}

	if v, ok := m.Kubelet().ExtraConfig()["maxPods"]; ok {
		if n, ok := v.(float64); ok {
			f.maxPods = int32(n)
		} else if n, ok := v.(int); ok {
			f.maxPods = int32(n) //nolint:gosec // a pod count
		}
	}

	for host, mirror := range cfg.RegistryMirrorConfigs() {
		for _, e := range mirror.Endpoints() {
			f.mirrors[host] = append(f.mirrors[host], strings.TrimSuffix(e.Endpoint(), "/"))
		}
	}

	return f, nil
}

// parseTaint reads a machine config node taint: key → "value:Effect" or "Effect".
func parseTaint(key, v string) (corev1.Taint, error) {
	value, effect, found := strings.Cut(v, ":")
	if !found {
		value, effect = "", v
	}

	t := corev1.Taint{Key: key, Value: value, Effect: corev1.TaintEffect(effect)}
	if !slices.Contains([]corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute}, t.Effect) {
		return t, fmt.Errorf("read node taint %s=%q: the effect must be NoSchedule, PreferNoSchedule or NoExecute", key, v)
	}

	return t, nil
}

// kubePaths are the node's Kubernetes files under its state dir.
func (l layout) kubePaths(cniBin string) nodeconfig.Paths { return nodeconfig.PathsIn(l.dir, cniBin) }

// kubeconfigOf is program name's kubeconfig; the kubelet's and kube-proxy's are the ones
// nodeconfig.PathsIn names (<dir>/kubelet.kubeconfig, <dir>/kube-proxy.kubeconfig).
func (l layout) kubeconfigOf(name string) string { return filepath.Join(l.dir, name+".kubeconfig") }

// kubeNode is the node as nodeconfig renders it.
func (n *ProcessNode) kubeNode(kf kubeFacts) nodeconfig.Node {
	addr, _ := netip.AddrFromSlice(n.opts.Address.To4()) //nolint:errcheck // an IPv4 node address

	return nodeconfig.Node{
		Name: n.opts.Hostname, Address: addr, PauseImage: PauseImage, NoPivotRoot: n.opts.Kube.NoPivotRoot,
		ClusterDNS: kf.clusterDNS, ClusterDomain: n.facts.dnsDomain, ClusterCIDR: kf.podCIDRs,
		Taints: kf.taints, MaxPods: kf.maxPods,
	}
}

// startKube writes the Kubernetes programs' certificates and configurations and starts them,
// supervised; kube-apiserver is already running on this node. The pod network follows once
// the controller manager gives the node its pod CIDR (podNetwork).
func (n *ProcessNode) startKube() error {
	n.mu.Lock()
	defer n.mu.Unlock()

	if n.opts.Kube == nil || n.kube != nil || n.stopped {
		return nil
	}

	kf, err := kubeFactsFromConfig(n.cfg)
	if err != nil {
		return err
	}

	p := n.layout.kubePaths(n.opts.Kube.CNIBinDir)
	if err := n.writeKubeFiles(p, kf); err != nil {
		return fmt.Errorf("configure the Kubernetes node: %w", err)
	}

	ko := n.opts.Kube
	start := func(name, path string, args ...string) *supervised {
		return supervise(n.ctx, name, path, args, n.layout.log(name), n.log)
	}

	k := map[string]*supervised{
		"kube-controller-manager": start("kube-controller-manager", ko.ControllerManager, controllerManagerArgs(n.layout, kf)...),
		"kube-scheduler":          start("kube-scheduler", ko.Scheduler, schedulerArgs(n.layout, kf)...),
		"containerd":              start("containerd", ko.Containerd, "--config", p.ContainerdConfig),
		"kubelet":                 start("kubelet", ko.Kubelet, nodeconfig.KubeletArgs(p, n.kubeNode(kf))...),
	}
	if kf.proxy {
		k["kube-proxy"] = start("kube-proxy", ko.KubeProxy, "--config="+p.ProxyConfig)
	}

	n.kube, n.kubeFacts = k, kf
	n.log("kubernetes: started %s", strings.Join(sortedKeys(k), ", "))

	go n.podNetwork(n.ctx, p, kf)

	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}

	slices.Sort(keys)

	return keys
}

// writeKubeFiles issues the components' client certificates and the kubelet's serving one from
// the cluster CA, and writes their kubeconfigs and configurations. The controller manager and
// scheduler talk to the local API server; the kubelet and kube-proxy through KubePrism when the
// config enables it, else the cluster endpoint, as on Talos.
func (n *ProcessNode) writeKubeFiles(p nodeconfig.Paths, kf kubeFacts) error {
	clusterCA := n.cfg.Cluster().IssuingCA()

	ca, err := loadCA("cluster", clusterCA)
	if err != nil {
		return err
	}

	pki := n.layout.pki()
	local := httpsURL(net.IPv4(127, 0, 0, 1), apiServerPort)

	nodeServer := n.cfg.Cluster().Endpoint().String()
	if kf.prismPort > 0 {
		nodeServer = httpsURL(net.IPv4(127, 0, 0, 1), kf.prismPort)
	}

	files := map[string][]byte{filepath.Join(pki, "ca.key"): clusterCA.Key}

	for _, u := range []struct {
		name, server string
		spec         certSpec
	}{
		{"kube-controller-manager", local, certSpec{name: "kube-controller-manager", cn: "system:kube-controller-manager", org: controllerManagerGroups(kf), usages: clientOnly}},
		{"kube-scheduler", local, certSpec{name: "kube-scheduler", cn: "system:kube-scheduler", usages: clientOnly}},
		{"kubelet", nodeServer, certSpec{name: "kubelet-client", cn: "system:node:" + n.opts.Hostname, org: []string{"system:nodes"}, usages: clientOnly}},
		{"kube-proxy", nodeServer, certSpec{name: "kube-proxy", cn: "system:kube-proxy", usages: clientOnly}},
	} {
		is, err := issue(ca, pki, u.spec)
		if err != nil {
			return err
		}

		kc, err := nodeconfig.Kubeconfig(u.server, clusterCA.Crt, is.pair.CrtPEM, is.pair.KeyPEM)
		if err != nil {
			return err
		}

		files[n.layout.kubeconfigOf(u.name)] = kc
	}

	serving, err := issue(ca, pki, certSpec{
		name: "kubelet", cn: n.opts.Hostname, ips: []net.IP{n.opts.Address}, dns: []string{n.opts.Hostname}, usages: serverOnly,
	})
	if err != nil {
		return err
	}

	files[p.KubeletCert], files[p.KubeletKey] = serving.pair.CrtPEM, serving.pair.KeyPEM

	node := n.kubeNode(kf)

	for path, render := range map[string]func() ([]byte, error){
		p.ContainerdConfig: func() ([]byte, error) { return nodeconfig.Containerd(p, node) },
		p.KubeletConfig:    func() ([]byte, error) { return nodeconfig.Kubelet(p, node) },
		p.ProxyConfig:      func() ([]byte, error) { return nodeconfig.KubeProxy(p, node) },
	} {
		data, err := render()
		if err != nil {
			return err
		}

		files[path] = data
	}

	for host, endpoints := range kf.mirrors {
		files[filepath.Join(p.CertsDir, host, "hosts.toml")] = nodeconfig.HostsTOML(endpoints...)
	}

	for _, d := range []string{p.ContainerdRoot, p.ContainerdState, p.ContainerdOpt, p.RuncRoot, p.CNIConfDir, p.CNIData, p.KubeletRoot, p.PodLogs, p.VolumePlugins} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}

	return writeFiles(files)
}

// extraArgs renders defaults overridden by the config's extraArgs as --key=value flags, sorted.
func extraArgs(defaults map[string]string, extra map[string][]string) []string {
	all := map[string][]string{}
	for k, v := range defaults {
		all[k] = []string{v}
	}

	for k, v := range extra {
		all[k] = v
	}

	var out []string

	for _, k := range sortedKeys(all) {
		for _, v := range all[k] {
			out = append(out, "--"+k+"="+v)
		}
	}

	return out
}

// controllerManagerGroups are the controller manager's groups: none, as on Talos, where each
// controller acts as its own service account (--use-service-account-credentials); a config
// that turns that off (EmulationPatch: every controller's token request costs a TCG guest
// seconds at start) makes it a cluster admin, as the controllers then act as the manager.
func controllerManagerGroups(kf kubeFacts) []string {
	if v := kf.cmArgs["use-service-account-credentials"]; len(v) > 0 && v[len(v)-1] == "false" {
		return []string{"system:masters"}
	}

	return nil
}

func controllerManagerArgs(l layout, kf kubeFacts) []string {
	pki, kc := l.pki(), l.kubeconfigOf("kube-controller-manager")

	return extraArgs(map[string]string{
		"kubeconfig": kc, "authentication-kubeconfig": kc, "authorization-kubeconfig": kc,
		"leader-elect":                     "true",
		"allocate-node-cidrs":              "true",
		"cluster-cidr":                     kf.podCIDRs,
		"node-cidr-mask-size-ipv4":         "24",
		"cluster-signing-cert-file":        filepath.Join(pki, "ca.crt"),
		"cluster-signing-key-file":         filepath.Join(pki, "ca.key"),
		"root-ca-file":                     filepath.Join(pki, "ca.crt"),
		"service-account-private-key-file": filepath.Join(pki, "service-account.key"),
		"use-service-account-credentials":  "true",
		"controllers":                      "*,bootstrapsigner,tokencleaner",
		"bind-address":                     "127.0.0.1",
	}, kf.cmArgs)
}

func schedulerArgs(l layout, kf kubeFacts) []string {
	kc := l.kubeconfigOf("kube-scheduler")

	return extraArgs(map[string]string{
		"kubeconfig": kc, "authentication-kubeconfig": kc, "authorization-kubeconfig": kc,
		"leader-elect": "true", "bind-address": "127.0.0.1",
	}, kf.schedArgs)
}

// kubeServices reports the node's Kubernetes programs for ServiceList, each with its health.
func (n *ProcessNode) kubeServices(ctx context.Context) []Service {
	n.mu.Lock()
	k := n.kube
	n.mu.Unlock()

	p := n.layout.kubePaths("")
	checks := map[string]func(context.Context) error{
		"kube-controller-manager": httpHealth(fmt.Sprintf("https://127.0.0.1:%d/healthz", controllerManagerPort)),
		"kube-scheduler":          httpHealth(fmt.Sprintf("https://127.0.0.1:%d/healthz", schedulerPort)),
		"kubelet":                 httpHealth(fmt.Sprintf("http://127.0.0.1:%d/healthz", kubeletHealthzPort)),
		"kube-proxy":              httpHealth(fmt.Sprintf("http://127.0.0.1:%d/healthz", proxyHealthzPort)),
		"containerd": func(ctx context.Context) error {
			var d net.Dialer

			c, err := d.DialContext(ctx, "unix", p.Socket)
			if err != nil {
				return fmt.Errorf("containerd does not answer on %s: %w", p.Socket, err)
			}

			return c.Close()
		},
	}

	// Each check is bounded by healthTimeout and they run at once, so ServiceList answers
	// within one bound however busy the guest is (one after another, a loaded TCG guest took
	// longer than a client waits).
	names := sortedKeys(k)
	out := make([]Service, len(names))

	var wg sync.WaitGroup
	for i, name := range names {
		wg.Go(func() { out[i] = k[name].service(ctx, checks[name]) })
	}

	wg.Wait()

	return out
}

// httpHealth checks a local health endpoint; the components serve it to anyone, over a
// self-signed certificate for the secure ones.
func httpHealth(url string) func(context.Context) error {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, healthTimeout)
		defer cancel()

		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}

		client := &http.Client{Transport: insecureLocal, Timeout: healthTimeout}

		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("health check %s: %w", url, err)
		}
		defer resp.Body.Close()

		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("health check %s: %s", url, resp.Status)
		}

		return nil
	}
}

// stopKube stops the node's Kubernetes programs, the kubelet and kube-proxy first.
func (n *ProcessNode) stopKube(ctx context.Context) error {
	n.mu.Lock()
	k := n.kube
	n.mu.Unlock()

	var errs []error

	for _, name := range []string{"kube-proxy", "kubelet", "kube-scheduler", "kube-controller-manager", "containerd"} {
		if s, ok := k[name]; ok {
			errs = append(errs, s.stop(ctx))
		}
	}

	return errors.Join(errs...)
}

// cri is the CRI of the node's containerd, or ErrNotReady before the node runs its
// Kubernetes programs.
func (n *ProcessNode) cri() (CRI, error) {
	n.mu.Lock()
	defer n.mu.Unlock()

	if n.opts.Kube == nil {
		return CRI{}, errors.New("this node runs no container runtime (no Kubernetes programs configured)")
	}

	if n.kube == nil {
		return CRI{}, fmt.Errorf("%w: containerd starts with the node's Kubernetes programs, once its API server is ready", ErrNotReady)
	}

	return CRI{Socket: n.layout.kubePaths(n.opts.Kube.CNIBinDir).Socket}, nil
}

// PullImage implements ImageStore through the node's containerd.
func (n *ProcessNode) PullImage(ctx context.Context, ref string) error {
	c, err := n.cri()
	if err != nil {
		return err
	}

	return c.PullImage(ctx, ref)
}

// ListImages implements ImageStore through the node's containerd.
func (n *ProcessNode) ListImages(ctx context.Context) ([]Image, error) {
	c, err := n.cri()
	if err != nil {
		return nil, err
	}

	return c.ListImages(ctx)
}

// RemoveImage implements ImageStore through the node's containerd.
func (n *ProcessNode) RemoveImage(ctx context.Context, ref string) error {
	c, err := n.cri()
	if err != nil {
		return err
	}

	return c.RemoveImage(ctx, ref)
}
