package realnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/nodeconfig"
	"github.com/cozylab/cozylab/internal/pki"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
)

// Options configure Start.
type Options struct {
	// Plan is the node's network and cgroup layout (NewPlan).
	Plan Plan
	// Dir is the node's run directory: configuration, containerd's data, the kubelet's root.
	// Keep it short: containerd's socket lives in it (a socket path has at most 108 bytes).
	Dir string
	// Kubelet and KubeProxy are the binaries (from the binaries cache).
	Kubelet, KubeProxy string
	// APIServer is the API server's URL as the node reaches it (on Plan.Host).
	APIServer string
	// CACertFile and CAKeyFile are the cluster CA: the node's certificates are issued from it.
	CACertFile, CAKeyFile string
	// Admin is an administrator's client: it binds the API server's kubelet client to the
	// kubelet API and watches the node become Ready.
	Admin *rest.Config
	// APIServerKubeletUser is the API server's client-certificate user towards kubelets.
	APIServerKubeletUser string
	// Registry is the lab registry as the node reaches it (host:port on Plan.Host); Mirrors are
	// the upstream registries whose pulls go to it instead (ghcr.io, registry.k8s.io, …).
	Registry string
	Mirrors  []string
	// PauseImage is the pod sandbox image (an upstream name the lab registry serves).
	PauseImage string
	// ClusterDNS is the cluster DNS Service's address (pods resolve through it); unset, pods get
	// no nameserver. ClusterDomain is cluster.local when empty.
	ClusterDNS    netip.Addr
	ClusterDomain string
	// Start runs a supervised process (the lab's process group).
	Start func(process.Spec) (*process.Process, error)
	// ReadyTimeout bounds the wait for the node to be Ready; two minutes when zero.
	ReadyTimeout time.Duration
}

// Node is a started real node.
type Node struct {
	Containerd, Kubelet, KubeProxy *process.Process
	// Versions of what runs, for the first lines of the output.
	ContainerdVersion, KubeletVersion string

	dir  string
	plan Plan
}

// Stop stops kube-proxy, the kubelet and containerd, then the pods (their shims and
// containers). Stop the node before the API server — its pods hold connections to it — and
// Clean after: the API server serves on the node's link, which Clean removes.
func (n *Node) Stop(ctx context.Context) error {
	var errs []error
	for _, p := range []*process.Process{n.KubeProxy, n.Kubelet, n.Containerd} {
		if p != nil {
			errs = append(errs, p.Stop(ctx))
		}
	}
	errs = append(errs, killShims(pathsIn(n.dir).Socket), removeCgroupRoot(n.plan.CgroupRoot))
	return errors.Join(errs...)
}

// prerequisites names the OS packages a real node needs, checked before anything changes.
var prerequisites = []struct{ File, Package string }{
	{"/usr/bin/containerd", "containerd"},
	{"/usr/bin/containerd-shim-runc-v2", "containerd"},
	{"/usr/sbin/runc", "runc"},
	{CNIBinDir + "/bridge", "containernetworking-plugins"},
	{"/usr/sbin/conntrack", "conntrack"},
	{"/usr/sbin/iptables", "iptables"},
	{"/usr/sbin/nft", "nftables"},
}

// Packages are the Debian packages a real node needs (what the sandbox image installs).
func Packages() []string {
	var out []string
	for _, p := range prerequisites {
		if !slices.Contains(out, p.Package) {
			out = append(out, p.Package)
		}
	}
	return out
}

// IptablesNFTLinks are the links Debian's update-alternatives makes for iptables in its
// nftables flavour (path → target, relative to /usr/sbin). An image that carries Packages
// without running their maintainer scripts (the sandbox image, the twin's initramfs) makes
// them itself, so the kubelet and the CNI plugins find `iptables` and it speaks nftables.
var IptablesNFTLinks = map[string]string{
	"/usr/sbin/iptables": "iptables-nft", "/usr/sbin/iptables-save": "iptables-nft-save", "/usr/sbin/iptables-restore": "iptables-nft-restore",
	"/usr/sbin/ip6tables": "ip6tables-nft", "/usr/sbin/ip6tables-save": "ip6tables-nft-save", "/usr/sbin/ip6tables-restore": "ip6tables-nft-restore",
}

// CheckPrerequisites fails naming the apt-get command that installs what is missing.
func CheckPrerequisites() error {
	if os.Geteuid() != 0 {
		return errors.New("a real node needs root (containerd, the kubelet, a network namespace): run as root")
	}
	var missing []string
	seen := map[string]bool{}
	for _, p := range prerequisites {
		if _, err := os.Stat(p.File); err != nil && !seen[p.Package] {
			seen[p.Package] = true
			missing = append(missing, p.Package)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("a real node needs %v: install them with: apt-get install -y %s", missing, strings.Join(missing, " "))
	}
	return nil
}

// Start brings the node up — network namespace, certificates, configuration, containerd, the
// kubelet, kube-proxy — and waits until the node is Ready. Everything it makes is found again
// by Clean from Dir and the plan, whether or not Start finished. After a failure once containerd
// started, the Node returned holds what runs, for the caller to Stop.
func Start(ctx context.Context, o Options, step progress.Step) (*Node, error) {
	if err := CheckPrerequisites(); err != nil {
		return nil, err
	}
	if err := o.Plan.Validate(); err != nil {
		return nil, err
	}
	if o.ClusterDomain == "" {
		o.ClusterDomain = "cluster.local"
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	p := pathsIn(o.Dir)
	n := &Node{dir: o.Dir, plan: o.Plan}
	// "containerd github.com/containerd/containerd 1.6.20~ds1 1.6.20~ds1-1+deb12u3", "Kubernetes v1.35.4"
	n.ContainerdVersion, _ = ContainerdVersion()
	n.KubeletVersion, _ = versionOf(o.Kubelet, 1, "--version")

	step.Status("network namespace and link %s (node %s, pods %s)", o.Plan.HostLink, o.Plan.Node, o.Plan.Pods)
	for _, d := range []string{p.dir, filepath.Dir(p.KubeletCert), p.ContainerdRoot, p.ContainerdState, p.RuncRoot, p.ContainerdOpt, p.CNIConfDir, p.CNIData, p.KubeletRoot, p.PodLogs, p.VolumePlugins} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, fmt.Errorf("create %s: %w", d, err)
		}
	}
	if err := recordSysctls(o.Dir); err != nil {
		return nil, err
	}
	if err := Prepare(o.Dir, o.Plan); err != nil {
		return nil, err
	}
	if err := ensureCgroupRoot(o.Plan.CgroupRoot); err != nil {
		return nil, err
	}
	if err := writeFiles(o, p); err != nil {
		return nil, err
	}
	if err := bindKubeletAPI(ctx, o); err != nil {
		return nil, err
	}

	var err error
	step.Status("containerd %s", n.ContainerdVersion)
	if n.Containerd, err = o.Start(process.Spec{Name: "containerd", Path: "/usr/bin/containerd",
		Args: []string{"--config", p.ContainerdConfig}, NetNS: p.netns, StopTimeout: 20 * time.Second}); err != nil {
		return n, err
	}
	if err := condition.Wait(ctx, socketAnswers(p.Socket, n.Containerd), condition.Poll{Interval: 50 * time.Millisecond, Timeout: time.Minute}, condition.StepReporter(step)); err != nil {
		return n, fmt.Errorf("containerd did not start (its log: %s): %w", n.Containerd.LogPath, err)
	}
	step.Status("kubelet %s", n.KubeletVersion)
	if n.Kubelet, err = o.Start(process.Spec{Name: "kubelet", Path: o.Kubelet, Args: nodeconfig.KubeletArgs(p.Paths, node(o.Plan, o.PauseImage, o.ClusterDNS, o.ClusterDomain)), NetNS: p.netns, StopTimeout: 20 * time.Second}); err != nil {
		return n, err
	}
	if n.KubeProxy, err = o.Start(process.Spec{Name: "kube-proxy", Path: o.KubeProxy,
		Args: []string{"--config=" + p.ProxyConfig}, NetNS: p.netns}); err != nil {
		return n, err
	}
	cs, err := kubernetes.NewForConfig(o.Admin)
	if err != nil {
		return n, err
	}
	step.Status("waiting for node %s to be Ready", NodeName)
	if err := condition.Wait(ctx, nodeReady(cs, n), condition.Poll{Interval: 200 * time.Millisecond, Timeout: o.ReadyTimeout}, condition.StepReporter(step)); err != nil {
		return n, fmt.Errorf("node %s not Ready (kubelet log: %s): %w", NodeName, n.Kubelet.LogPath, err)
	}
	return n, nil
}

// Prepare makes the node's network namespace and joins it to the host, so Plan.Host is an
// address of this host: the API server and the registry listen on it before the node starts.
// It is idempotent, and Start calls it too.
func Prepare(dir string, plan Plan) error {
	if err := plan.Validate(); err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	p := pathsIn(dir)
	if err := ensureNamespace(p.netns); err != nil {
		return err
	}
	return setUpNetwork(plan, p.netns)
}

// writeFiles writes the certificates, kubeconfigs and configuration files.
func writeFiles(o Options, p paths) error {
	caCert, err := os.ReadFile(o.CACertFile)
	if err != nil {
		return fmt.Errorf("read the cluster CA: %w", err)
	}
	caKey, err := os.ReadFile(o.CAKeyFile)
	if err != nil {
		return fmt.Errorf("read the cluster CA key: %w", err)
	}
	ca, err := pki.ParseCA(caCert, caKey)
	if err != nil {
		return err
	}
	serving, err := ca.Issue(pki.Request{CommonName: NodeName, DNSNames: []string{NodeName}, IPs: []net.IP{net.IP(o.Plan.Node.AsSlice())}, Server: true})
	if err != nil {
		return err
	}
	nodeClient, err := ca.Issue(pki.Request{CommonName: "system:node:" + NodeName, Organization: []string{"system:nodes"}, Client: true})
	if err != nil {
		return err
	}
	proxyClient, err := ca.Issue(pki.Request{CommonName: "system:kube-proxy", Client: true})
	if err != nil {
		return err
	}
	kubeletKC, err := nodeconfig.Kubeconfig(o.APIServer, caCert, nodeClient.CertPEM, nodeClient.KeyPEM)
	if err != nil {
		return err
	}
	proxyKC, err := nodeconfig.Kubeconfig(o.APIServer, caCert, proxyClient.CertPEM, proxyClient.KeyPEM)
	if err != nil {
		return err
	}
	n := node(o.Plan, o.PauseImage, o.ClusterDNS, o.ClusterDomain)
	containerd, err := nodeconfig.Containerd(p.Paths, n)
	if err != nil {
		return err
	}
	cni, err := nodeconfig.CNI(p.Paths, bridge(o.Plan))
	if err != nil {
		return err
	}
	kubelet, err := nodeconfig.Kubelet(p.Paths, n)
	if err != nil {
		return err
	}
	proxy, err := nodeconfig.KubeProxy(p.Paths, n)
	if err != nil {
		return err
	}
	files := map[string][]byte{
		p.ClientCA: caCert, p.KubeletCert: serving.CertPEM, p.KubeletKey: serving.KeyPEM,
		p.KubeletKubeconfig: kubeletKC, p.ProxyKubeconfig: proxyKC,
		p.ContainerdConfig: containerd, filepath.Join(p.CNIConfDir, "10-cozylab.conflist"): cni,
		p.KubeletConfig: kubelet, p.ProxyConfig: proxy,
	}
	if o.Registry != "" {
		for _, host := range append([]string{o.Registry}, o.Mirrors...) {
			files[filepath.Join(p.CertsDir, host, "hosts.toml")] = nodeconfig.HostsTOML("http://" + o.Registry)
		}
	}
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("create %s: %w", filepath.Dir(path), err)
		}
		// Keys and kubeconfigs are secrets; everything here is 0600 alike.
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}
	return nil
}

// bindKubeletAPI lets the API server's kubelet client use the kubelet API (logs, exec,
// port-forward), as kubeadm does.
func bindKubeletAPI(ctx context.Context, o Options) error {
	cs, err := kubernetes.NewForConfig(o.Admin)
	if err != nil {
		return err
	}
	crb := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "cozylab:kube-apiserver-kubelet-api"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:kubelet-api-admin"},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: o.APIServerKubeletUser}},
	}
	if _, err := cs.RbacV1().ClusterRoleBindings().Create(ctx, crb, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bind %s to the kubelet API: %w", o.APIServerKubeletUser, err)
	}
	return nil
}

// socketAnswers holds once something accepts connections on the unix socket; a process that
// exited ends the wait.
func socketAnswers(path string, p *process.Process) condition.Condition {
	return condition.Condition{Name: "containerd answers on " + path, Check: func(ctx context.Context) error {
		if exited(p) {
			return condition.Permanent(fmt.Errorf("%w; its log ends:\n%s", p.ExitError(), p.LogTail(10)))
		}
		c, err := net.DialTimeout("unix", path, time.Second)
		if err != nil {
			return fmt.Errorf("containerd's socket %s: %w", path, err)
		}
		return c.Close()
	}}
}

// nodeReady holds once the node reports Ready; a kubelet that exited ends the wait.
func nodeReady(cs kubernetes.Interface, n *Node) condition.Condition {
	return condition.Condition{Name: "node " + NodeName + " Ready", Check: func(ctx context.Context) error {
		for _, p := range []*process.Process{n.Kubelet, n.Containerd} {
			if exited(p) {
				return condition.Permanent(fmt.Errorf("%w; its log ends:\n%s", p.ExitError(), p.LogTail(10)))
			}
		}
		node, err := cs.CoreV1().Nodes().Get(ctx, NodeName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("node %s: %w", NodeName, err)
		}
		for _, c := range node.Status.Conditions {
			if c.Type == corev1.NodeReady {
				if c.Status == corev1.ConditionTrue {
					return nil
				}
				return fmt.Errorf("node %s: %s: %s", NodeName, c.Reason, c.Message)
			}
		}
		return fmt.Errorf("node %s: no Ready condition yet", NodeName)
	}}
}

func exited(p *process.Process) bool {
	select {
	case <-p.Exited():
		return true
	default:
		return false
	}
}

// ContainerdVersion is the version of the host's containerd (Debian's), as the node runs it.
func ContainerdVersion() (string, error) { return versionOf("/usr/bin/containerd", 2, "--version") }

// versionOf runs bin with args and returns the field'th word (from 0) of its first line.
func versionOf(bin string, field int, args ...string) (string, error) {
	out, err := exec.Command(bin, args...).Output()
	if err != nil {
		return "", err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
	if f := strings.Fields(line); len(f) > field {
		return f[field], nil
	}
	return line, nil
}
