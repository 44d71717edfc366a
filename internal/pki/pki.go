// Package pki makes the certificates and keys a local control plane needs, in Go, so no openssl
// or cfssl is required. Keys are ECDSA P-256: generated in microseconds (an RSA-2048 key costs
// tens of milliseconds) and accepted everywhere Kubernetes takes a key.
package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity of everything issued here: a lab lives days, not years.
const Validity = 365 * 24 * time.Hour

// CA is a certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	KeyPEM  []byte
}

// Pair is an issued certificate and its key, PEM-encoded.
type Pair struct {
	CertPEM []byte
	KeyPEM  []byte
}

// NewCA creates a self-signed CA named cn.
func NewCA(cn string) (*CA, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return nil, fmt.Errorf("create CA %s: %w", cn, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("create CA %s: %w", cn, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("create CA %s: %w", cn, err)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEM(der), KeyPEM: keyPEM}, nil
}

// Request describes a certificate to issue.
type Request struct {
	CommonName   string
	Organization []string
	DNSNames     []string
	IPs          []net.IP
	// Server and Client select the extended key usages.
	Server, Client bool
}

// Issue signs a new key pair for req.
func (ca *CA) Issue(req Request) (Pair, error) {
	key, keyPEM, err := newKey()
	if err != nil {
		return Pair{}, fmt.Errorf("issue certificate %s: %w", req.CommonName, err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: req.CommonName, Organization: req.Organization},
		DNSNames:     req.DNSNames,
		IPAddresses:  req.IPs,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if req.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if req.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		return Pair{}, fmt.Errorf("issue certificate %s: %w", req.CommonName, err)
	}
	return Pair{CertPEM: certPEM(der), KeyPEM: keyPEM}, nil
}

// NewSigningKey returns a bare key pair (PEM private key, PEM public key), such as the one that
// signs service-account tokens.
func NewSigningKey() (privPEM, pubPEM []byte, err error) {
	key, privPEM, err := newKey()
	if err != nil {
		return nil, nil, fmt.Errorf("create signing key: %w", err)
	}
	der, err := x509.MarshalPKIXPublicKey(key.Public())
	if err != nil {
		return nil, nil, fmt.Errorf("create signing key: %w", err)
	}
	return privPEM, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

func newKey() (*ecdsa.PrivateKey, []byte, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return key, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("read random serial: %v", err)) // crypto/rand never fails on Linux
	}
	return n
}

// ParseCA reads a CA written by NewCA (its CertPEM and KeyPEM), to issue more certificates.
func ParseCA(certPEMData, keyPEMData []byte) (*CA, error) {
	cb, _ := pem.Decode(certPEMData)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("read CA: no PEM certificate")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read CA certificate: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("read CA: %s is not a CA certificate", cert.Subject.CommonName)
	}
	kb, _ := pem.Decode(keyPEMData)
	if kb == nil {
		return nil, fmt.Errorf("read CA key: no PEM key")
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("read CA key: %w", err)
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("read CA: the key does not belong to the certificate %s", cert.Subject.CommonName)
	}
	return &CA{Cert: cert, Key: key, CertPEM: certPEMData, KeyPEM: keyPEMData}, nil
}
