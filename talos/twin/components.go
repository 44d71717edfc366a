package twin

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/config"
)

// Ports Talos control planes use.
const (
	etcdClientPort = 2379
	etcdPeerPort   = 2380
	apiServerPort  = 6443
)

// layout is where a node keeps its files under the state dir.
type layout struct{ dir string }

func (l layout) config() string         { return filepath.Join(l.dir, "config.yaml") }
func (l layout) pki() string            { return filepath.Join(l.dir, "pki") }
func (l layout) etcdData() string       { return filepath.Join(l.dir, "etcd") }
func (l layout) apiserverCerts() string { return filepath.Join(l.dir, "apiserver-certs") }
func (l layout) log(name string) string { return filepath.Join(l.dir, "logs", name+".log") }

// clusterFacts are what the node's processes need from the machine config.
type clusterFacts struct {
	// endpointHost is the cluster endpoint's host: the VIP in a lab config.
	endpointHost string
	// vip is endpointHost as an address, when it is one.
	vip         netip.Addr
	serviceCIDR string
	serviceIP   netip.Addr
	dnsDomain   string
	certSANs    []string
	issuer      string
	// aggregator is set when the config carries the aggregator (front-proxy) CA: the API
	// server then authenticates aggregated API servers' requests as Talos configures it.
	aggregator bool
}

// factsFromConfig reads clusterFacts from cfg.
func factsFromConfig(cfg config.Provider) (clusterFacts, error) {
	c := cfg.Cluster()
	if c.Endpoint() == nil {
		return clusterFacts{}, fmt.Errorf("read cluster endpoint: the config has none")
	}

	f := clusterFacts{
		endpointHost: c.Endpoint().Hostname(),
		dnsDomain:    c.Network().DNSDomain(),
		certSANs:     c.CertSANs(),
		issuer:       c.Endpoint().String(),
	}
	f.vip, _ = netip.ParseAddr(f.endpointHost) //nolint:errcheck // a DNS name is no VIP

	if ca := c.AggregatorCA(); ca != nil && len(ca.Crt) > 0 && len(ca.Key) > 0 {
		f.aggregator = true
	}

	cidrs := c.Network().ServiceCIDRs()
	if len(cidrs) == 0 {
		return clusterFacts{}, fmt.Errorf("read service CIDR: the config has none")
	}

	prefix, err := netip.ParsePrefix(cidrs[0])
	if err != nil {
		return clusterFacts{}, fmt.Errorf("parse service CIDR %q: %w", cidrs[0], err)
	}

	f.serviceCIDR = strings.Join(cidrs, ",")
	f.serviceIP = prefix.Masked().Addr().Next()

	return f, nil
}

func httpsURL(ip net.IP, port int) string {
	return "https://" + net.JoinHostPort(ip.String(), fmt.Sprint(port))
}

// etcdTLSArgs are the flags giving etcd its server and peer certificates, both mutually
// authenticated, as Talos runs it.
func etcdTLSArgs(pki string) []string {
	return []string{
		"--client-cert-auth=true",
		"--trusted-ca-file=" + filepath.Join(pki, "etcd-ca.crt"),
		"--cert-file=" + filepath.Join(pki, "etcd-server.crt"),
		"--key-file=" + filepath.Join(pki, "etcd-server.key"),
		"--peer-client-cert-auth=true",
		"--peer-trusted-ca-file=" + filepath.Join(pki, "etcd-ca.crt"),
		"--peer-cert-file=" + filepath.Join(pki, "etcd-peer.crt"),
		"--peer-key-file=" + filepath.Join(pki, "etcd-peer.key"),
	}
}

// etcdArgs starts etcd as member name. listen are extra client addresses (the VIP on the
// bootstrap node); initialCluster is name=peerURL,...; state is "new" or "existing".
func etcdArgs(l layout, name string, addr net.IP, extraListen []net.IP, initialCluster, state string) []string {
	client := httpsURL(addr, etcdClientPort)
	listen := []string{client}

	for _, ip := range extraListen {
		listen = append(listen, httpsURL(ip, etcdClientPort))
	}

	args := []string{
		"--name=" + name,
		"--data-dir=" + l.etcdData(),
		"--listen-client-urls=" + strings.Join(listen, ","),
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + httpsURL(addr, etcdPeerPort),
		"--initial-advertise-peer-urls=" + httpsURL(addr, etcdPeerPort),
		"--initial-cluster=" + initialCluster,
		"--initial-cluster-state=" + state,
		"--log-level=warn",
	}

	return append(args, etcdTLSArgs(l.pki())...)
}

// apiServerArgs runs kube-apiserver against the local etcd, on every address (so the VIP,
// once held, reaches it), advertising the node's own address: without an advertise address
// kube-apiserver exits on a machine with no default route.
func apiServerArgs(l layout, addr net.IP, f clusterFacts) []string {
	pki := l.pki()

	args := []string{
		"--etcd-servers=" + httpsURL(addr, etcdClientPort),
		"--etcd-cafile=" + filepath.Join(pki, "etcd-ca.crt"),
		"--etcd-certfile=" + filepath.Join(pki, "etcd-client.crt"),
		"--etcd-keyfile=" + filepath.Join(pki, "etcd-client.key"),
		"--bind-address=0.0.0.0",
		"--advertise-address=" + addr.String(),
		fmt.Sprintf("--secure-port=%d", apiServerPort),
		"--tls-cert-file=" + filepath.Join(pki, "apiserver.crt"),
		"--tls-private-key-file=" + filepath.Join(pki, "apiserver.key"),
		"--client-ca-file=" + filepath.Join(pki, "ca.crt"),
		"--authorization-mode=Node,RBAC",
		"--service-account-issuer=" + f.issuer,
		"--service-account-key-file=" + filepath.Join(pki, "service-account.key"),
		"--service-account-signing-key-file=" + filepath.Join(pki, "service-account.key"),
		"--service-cluster-ip-range=" + f.serviceCIDR,
		"--allow-privileged=true",
		"--cert-dir=" + l.apiserverCerts(),
		"--kubelet-client-certificate=" + filepath.Join(pki, "apiserver-kubelet-client.crt"),
		"--kubelet-client-key=" + filepath.Join(pki, "apiserver-kubelet-client.key"),
		// Node names (srv1, …) resolve nowhere: the API server reaches kubelets by address.
		"--kubelet-preferred-address-types=InternalIP,Hostname",
	}
	if f.aggregator {
		// The front proxy, as Talos runs it: aggregated API servers trust requests the API
		// server forwards with its front-proxy-client certificate and X-Remote-* headers; the
		// controller manager and scheduler read the CA from extension-apiserver-authentication.
		args = append(args,
			"--requestheader-client-ca-file="+filepath.Join(pki, "aggregator-ca.crt"),
			"--requestheader-allowed-names=front-proxy-client",
			"--requestheader-extra-headers-prefix=X-Remote-Extra-",
			"--requestheader-group-headers=X-Remote-Group",
			"--requestheader-username-headers=X-Remote-User",
			"--proxy-client-cert-file="+filepath.Join(pki, "front-proxy-client.crt"),
			"--proxy-client-key-file="+filepath.Join(pki, "front-proxy-client.key"),
			"--enable-aggregator-routing=true",
		)
	}

	return args
}
