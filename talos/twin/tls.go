package twin

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/config"
)

// certValidity is how long the twin's server certificates live. Real apid renews its
// certificate; the twin issues a new one whenever a config is applied or it restarts.
const certValidity = 365 * 24 * time.Hour

// alpnProtocols must be set on every tls.Config handed back by GetConfigForClient: gRPC's own
// ALPN setup applies only to the base config.
var alpnProtocols = []string{"h2"}

// maintenanceTLS is the TLS of a node without a config: a throwaway self-signed certificate,
// and no client certificate asked for, as the client cannot have one yet.
func maintenanceTLS(hostname string, addrs []net.IP) (*tls.Config, error) {
	ca, err := x509.NewSelfSignedCertificateAuthority(x509.ECDSA(true), x509.CommonName("maintenance"))
	if err != nil {
		return nil, fmt.Errorf("create maintenance CA: %w", err)
	}

	pair, err := serverKeyPair(ca, hostname, addrs, nil)
	if err != nil {
		return nil, err
	}

	return &tls.Config{
		Certificates: []tls.Certificate{*pair.Certificate},
		ClientAuth:   tls.NoClientCert,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   alpnProtocols,
	}, nil
}

// secureTLS is the TLS of a configured node: a server certificate issued by the config's OS CA
// for the node's addresses, and a client certificate from that CA (or an accepted one) required.
func secureTLS(cfg config.Provider, hostname string, addrs []net.IP) (*tls.Config, error) {
	sec := cfg.Machine().Security()

	if sec.IssuingCA() == nil || len(sec.IssuingCA().Key) == 0 {
		return nil, fmt.Errorf("build API TLS: the config has no OS CA with a key (only control-plane configs carry one)")
	}

	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(sec.IssuingCA())
	if err != nil {
		return nil, fmt.Errorf("load OS CA: %w", err)
	}

	pair, err := serverKeyPair(ca, hostname, addrs, sec.CertSANs())
	if err != nil {
		return nil, err
	}

	pool := stdx509.NewCertPool()
	if !pool.AppendCertsFromPEM(sec.IssuingCA().Crt) {
		return nil, fmt.Errorf("load OS CA: no certificate in PEM")
	}

	for _, accepted := range sec.AcceptedCAs() {
		pool.AppendCertsFromPEM(accepted.Crt)
	}

	return &tls.Config{
		Certificates: []tls.Certificate{*pair.Certificate},
		ClientCAs:    pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
		MinVersion:   tls.VersionTLS13,
		NextProtos:   alpnProtocols,
	}, nil
}

// serverKeyPair issues a server certificate carrying the node's addresses and the config's
// extra SANs: the machinery client checks the server certificate against the address it dialed.
func serverKeyPair(ca *x509.CertificateAuthority, hostname string, addrs []net.IP, sans []string) (*x509.KeyPair, error) {
	ips := slices.Clone(addrs)
	dns := []string{hostname}

	for _, san := range sans {
		if ip := net.ParseIP(san); ip != nil {
			ips = append(ips, ip)
		} else {
			dns = append(dns, san)
		}
	}

	pair, err := x509.NewKeyPair(ca,
		x509.CommonName(hostname),
		x509.IPAddresses(ips),
		x509.DNSNames(dns),
		x509.ExtKeyUsage([]stdx509.ExtKeyUsage{stdx509.ExtKeyUsageServerAuth}),
		x509.NotBefore(time.Now().Add(-time.Hour)), // tolerate a guest clock slightly behind the host
		x509.NotAfter(time.Now().Add(certValidity)),
	)
	if err != nil {
		return nil, fmt.Errorf("issue server certificate for %s: %w", hostname, err)
	}

	return pair, nil
}
