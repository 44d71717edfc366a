package pki

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestIssuedServingCertVerifiesAgainstCA(t *testing.T) {
	ca, err := NewCA("test-ca")
	require.NoError(t, err)
	assert.True(t, ca.Cert.IsCA)
	pair, err := ca.Issue(Request{CommonName: "kube-apiserver", DNSNames: []string{"localhost"}, IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	require.NoError(t, err)

	kp, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	require.NoError(t, err, "certificate and key belong together")
	leaf, err := x509.ParseCertificate(kp.Certificate[0])
	require.NoError(t, err)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(ca.CertPEM))
	for _, name := range []string{"localhost", "127.0.0.1"} {
		_, err = leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
		assert.NoError(t, err, name)
	}
	_, err = leaf.Verify(x509.VerifyOptions{DNSName: "example.com", Roots: roots})
	assert.Error(t, err, "a name outside the SANs is refused")
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.Error(t, err, "a server certificate is no client certificate")
}

func TestClientCertCarriesGroups(t *testing.T) {
	ca, err := NewCA("test-ca")
	require.NoError(t, err)
	pair, err := ca.Issue(Request{CommonName: "admin", Organization: []string{"system:masters"}, Client: true})
	require.NoError(t, err)
	block, _ := pem.Decode(pair.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.Equal(t, []string{"system:masters"}, cert.Subject.Organization)
	assert.Equal(t, []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, cert.ExtKeyUsage)
}

func TestSigningKeyPairMatches(t *testing.T) {
	priv, pub, err := NewSigningKey()
	require.NoError(t, err)
	pb, _ := pem.Decode(priv)
	key, err := x509.ParseECPrivateKey(pb.Bytes)
	require.NoError(t, err)
	ub, _ := pem.Decode(pub)
	assert.Equal(t, "PUBLIC KEY", ub.Type)
	pk, err := x509.ParsePKIXPublicKey(ub.Bytes)
	require.NoError(t, err)
	assert.True(t, key.PublicKey.Equal(pk))
}

func TestParseCARoundTrip(t *testing.T) {
	ca, err := NewCA("lab")
	require.NoError(t, err)
	back, err := ParseCA(ca.CertPEM, ca.KeyPEM)
	require.NoError(t, err)
	pair, err := back.Issue(Request{CommonName: "system:node:node1", Organization: []string{"system:nodes"}, Client: true})
	require.NoError(t, err)
	block, _ := pem.Decode(pair.CertPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	require.NoError(t, cert.CheckSignatureFrom(ca.Cert), "issued by the original CA")

	other, err := NewCA("other")
	require.NoError(t, err)
	_, err = ParseCA(ca.CertPEM, other.KeyPEM)
	require.ErrorContains(t, err, "the key does not belong to the certificate lab")
	_, err = ParseCA(pair.CertPEM, pair.KeyPEM)
	require.ErrorContains(t, err, "is not a CA certificate")
}
