package twin

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"fmt"
	"net"
	"path/filepath"

	"github.com/siderolabs/talos/pkg/machinery/config"
)

var (
	serverAndClient = []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth, stdx509.ExtKeyUsageClientAuth}
	clientOnly      = []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageClientAuth}
	serverOnly      = []stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}
)

// writeEtcdPKI issues etcd's server, peer and client certificates from the config's etcd CA
// and returns the client TLS the node uses for etcd's gateway. The server certificate also
// carries client usage: etcd's gateway dials etcd's own gRPC port with it.
func writeEtcdPKI(cfg config.Provider, l layout, hostname string, addr net.IP, f clusterFacts) (*tls.Config, error) {
	etcdCA := cfg.Cluster().Etcd().CA()

	ca, err := loadCA("etcd", etcdCA)
	if err != nil {
		return nil, err
	}

	ips := []net.IP{addr, net.IPv4(127, 0, 0, 1)}
	if f.vip.IsValid() {
		ips = append(ips, net.IP(f.vip.AsSlice()))
	}

	dns := []string{hostname, "localhost"}

	if err := writeFiles(map[string][]byte{filepath.Join(l.pki(), "etcd-ca.crt"): etcdCA.Crt}); err != nil {
		return nil, err
	}

	specs := []certSpec{
		{name: "etcd-server", cn: hostname, ips: ips, dns: dns, usages: serverAndClient},
		{name: "etcd-peer", cn: hostname, ips: ips, dns: dns, usages: serverAndClient},
	}
	for _, s := range specs {
		if _, err := issue(ca, l.pki(), s); err != nil {
			return nil, err
		}
	}

	client, err := issue(ca, l.pki(), certSpec{name: "etcd-client", cn: "kube-apiserver", usages: clientOnly})
	if err != nil {
		return nil, err
	}

	return clientTLS(etcdCA.Crt, client.pair)
}

// writeAPIServerPKI issues kube-apiserver's serving certificate from the cluster CA, writes the
// CA and the service account key, and returns an admin client TLS for the node's /readyz checks.
func writeAPIServerPKI(cfg config.Provider, l layout, hostname string, addr net.IP, f clusterFacts) (*tls.Config, error) {
	clusterCA := cfg.Cluster().IssuingCA()

	ca, err := loadCA("cluster", clusterCA)
	if err != nil {
		return nil, err
	}

	sa := cfg.Cluster().ServiceAccount()
	if sa == nil || len(sa.Key) == 0 {
		return nil, fmt.Errorf("read service account key: the config has none")
	}

	err = writeFiles(map[string][]byte{
		filepath.Join(l.pki(), "ca.crt"):              clusterCA.Crt,
		filepath.Join(l.pki(), "service-account.key"): sa.Key,
	})
	if err != nil {
		return nil, err
	}

	ips, dns := apiServerSANs(hostname, addr, f)

	if _, err := issue(ca, l.pki(), certSpec{name: "apiserver", cn: "kube-apiserver", ips: ips, dns: dns, usages: serverOnly}); err != nil {
		return nil, err
	}

	// The API server's client of the kubelets (logs, exec, port-forward): a cluster admin.
	kubeletClient := certSpec{name: "apiserver-kubelet-client", cn: "apiserver-kubelet-client", org: []string{"system:masters"}, usages: clientOnly}
	if _, err := issue(ca, l.pki(), kubeletClient); err != nil {
		return nil, err
	}

	if f.aggregator {
		if err := writeFrontProxyPKI(cfg, l); err != nil {
			return nil, err
		}
	}

	admin, err := issue(ca, l.pki(), adminSpec())
	if err != nil {
		return nil, err
	}

	return clientTLS(clusterCA.Crt, admin.pair)
}

// writeFrontProxyPKI writes the aggregator CA and issues from it the API server's
// front-proxy-client certificate.
func writeFrontProxyPKI(cfg config.Provider, l layout) error {
	aggregatorCA := cfg.Cluster().AggregatorCA()

	ca, err := loadCA("aggregator", aggregatorCA)
	if err != nil {
		return err
	}

	if err := writeFiles(map[string][]byte{filepath.Join(l.pki(), "aggregator-ca.crt"): aggregatorCA.Crt}); err != nil {
		return err
	}

	_, err = issue(ca, l.pki(), certSpec{name: "front-proxy-client", cn: "front-proxy-client", usages: clientOnly})

	return err
}

// apiServerSANs are the names a client may dial the API server by: the node, the VIP or
// cluster endpoint, loopback, the in-cluster Service and the config's extra SANs.
func apiServerSANs(hostname string, addr net.IP, f clusterFacts) ([]net.IP, []string) {
	ips := []net.IP{addr, net.IPv4(127, 0, 0, 1), net.IP(f.serviceIP.AsSlice())}
	dns := []string{
		hostname, "localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc." + f.dnsDomain,
	}

	for _, san := range append([]string{f.endpointHost}, f.certSANs...) {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else if san != "" {
			dns = append(dns, san)
		}
	}

	return ips, dns
}

// adminSpec is the cluster admin's client certificate: system:masters, as Talos issues it.
func adminSpec() certSpec {
	return certSpec{name: "admin", cn: "admin", org: []string{"system:masters"}, usages: clientOnly}
}
