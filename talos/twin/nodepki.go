package twin

import (
	"crypto/tls"
	stdx509 "crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/siderolabs/crypto/x509"
)

// pemFiles is a certificate and key written to disk for a child process.
type pemFiles struct {
	Crt, Key string
}

// issued is what issue writes: the files, and the pair for the node's own clients.
type issued struct {
	pemFiles
	pair *x509.KeyPair
}

// certSpec describes one certificate to issue.
type certSpec struct {
	name   string // file stem under the pki dir
	cn     string
	org    []string
	ips    []net.IP
	dns    []string
	usages []stdx509.ExtKeyUsage
}

// issue signs spec with ca and writes <dir>/<name>.crt and .key (0600).
func issue(ca *x509.CertificateAuthority, dir string, spec certSpec) (issued, error) {
	opts := []x509.Option{
		x509.CommonName(spec.cn),
		x509.IPAddresses(spec.ips),
		x509.DNSNames(spec.dns),
		x509.ExtKeyUsage(spec.usages),
		x509.NotBefore(time.Now().Add(-time.Hour)), // a guest clock may lag the host's
		x509.NotAfter(time.Now().Add(certValidity)),
	}
	if len(spec.org) > 0 {
		opts = append(opts, x509.Organization(spec.org...))
	}

	pair, err := x509.NewKeyPair(ca, opts...)
	if err != nil {
		return issued{}, fmt.Errorf("issue %s certificate: %w", spec.name, err)
	}

	files := pemFiles{Crt: filepath.Join(dir, spec.name+".crt"), Key: filepath.Join(dir, spec.name+".key")}
	if err := writeFiles(map[string][]byte{files.Crt: pair.CrtPEM, files.Key: pair.KeyPEM}); err != nil {
		return issued{}, err
	}

	return issued{pemFiles: files, pair: pair}, nil
}

// loadCA parses a CA from the config, naming it in errors.
func loadCA(name string, p *x509.PEMEncodedCertificateAndKey) (*x509.CertificateAuthority, error) {
	if p == nil || len(p.Crt) == 0 || len(p.Key) == 0 {
		return nil, fmt.Errorf("load %s CA: the config has no %s CA with a key (only control-plane configs carry one)", name, name)
	}

	ca, err := x509.NewCertificateAuthorityFromCertificateAndKey(p)
	if err != nil {
		return nil, fmt.Errorf("load %s CA: %w", name, err)
	}

	return ca, nil
}

// clientTLS trusts caPEM and presents pair: how the node talks to its own etcd and API server.
func clientTLS(caPEM []byte, pair *x509.KeyPair) (*tls.Config, error) {
	pool := stdx509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("build client TLS: no certificate in the CA PEM")
	}

	return &tls.Config{
		RootCAs:      pool,
		Certificates: []tls.Certificate{*pair.Certificate},
		MinVersion:   tls.VersionTLS12,
	}, nil
}

// writeFiles writes each file 0600, creating its directory.
func writeFiles(files map[string][]byte) error {
	for path, data := range files {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("create directory for %s: %w", path, err)
		}

		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("write %s: %w", path, err)
		}
	}

	return nil
}
