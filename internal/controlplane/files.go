package controlplane

import (
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cozylab/cozylab/internal/pki"
)

// AdminUser is the user the kubeconfig's token authenticates as; it is in system:masters.
const AdminUser = "cozylab-admin"

// KubeletClientUser is the API server's identity towards kubelets (its client certificate's
// common name); a real node binds it to the system:kubelet-api-admin ClusterRole.
const KubeletClientUser = "kube-apiserver-kubelet-client"

// credentials are the files a run needs before anything starts.
type credentials struct {
	caCert, caKey           string
	servingCert, servKey    string
	kubeletCert, kubeletKey string
	saKey, saPub            string
	tokens                  string
	token                   string
	caPEM                   []byte
}

// credentialPaths are the credentials' files in dir.
func credentialPaths(dir string) credentials {
	return credentials{
		caCert: filepath.Join(dir, "ca.crt"), caKey: filepath.Join(dir, "ca.key"),
		servingCert: filepath.Join(dir, "apiserver.crt"), servKey: filepath.Join(dir, "apiserver.key"),
		kubeletCert: filepath.Join(dir, "apiserver-kubelet-client.crt"), kubeletKey: filepath.Join(dir, "apiserver-kubelet-client.key"),
		saKey: filepath.Join(dir, "sa.key"), saPub: filepath.Join(dir, "sa.pub"),
		tokens: filepath.Join(dir, "tokens.csv"),
	}
}

// loadOrWriteCredentials reuses the credentials a former run left in dir (a resumed lab: the
// service-account key must stay, tokens in etcd were signed with it), else writes new ones.
func loadOrWriteCredentials(dir string, serviceIP net.IP, address net.IP) (credentials, error) {
	c, err := loadOrWriteBase(dir)
	if err != nil {
		return credentials{}, err
	}
	return c, c.ensureIssued(serviceIP, address)
}

// loadOrWriteBase reuses or writes the CA, the service-account key and the admin token.
func loadOrWriteBase(dir string) (credentials, error) {
	c := credentialPaths(dir)
	for _, f := range []string{c.caCert, c.caKey, c.saKey, c.saPub, c.tokens} {
		if _, err := os.Stat(f); err != nil {
			return writeCredentials(dir)
		}
	}
	ca, err := os.ReadFile(c.caCert)
	if err != nil {
		return credentials{}, fmt.Errorf("read %s: %w", c.caCert, err)
	}
	tokens, err := os.ReadFile(c.tokens)
	if err != nil {
		return credentials{}, fmt.Errorf("read %s: %w", c.tokens, err)
	}
	token, _, ok := strings.Cut(string(tokens), ",")
	if !ok || token == "" {
		return credentials{}, fmt.Errorf("read %s: no token in it (remove %s to start over)", c.tokens, dir)
	}
	c.token, c.caPEM = token, ca
	return c, nil
}

// writeCredentials creates the PKI and the static token file in dir.
func writeCredentials(dir string) (credentials, error) {
	ca, err := pki.NewCA("cozylab-controlplane-ca")
	if err != nil {
		return credentials{}, err
	}
	saPriv, saPub, err := pki.NewSigningKey()
	if err != nil {
		return credentials{}, err
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return credentials{}, fmt.Errorf("generate admin token: %w", err)
	}
	c := credentialPaths(dir)
	c.token, c.caPEM = hex.EncodeToString(raw), ca.CertPEM
	for path, data := range map[string][]byte{
		c.caCert: ca.CertPEM, c.caKey: ca.KeyPEM,
		c.saKey: saPriv, c.saPub: saPub,
		c.tokens: fmt.Appendf(nil, "%s,%s,%s-uid,\"system:masters\"\n", c.token, AdminUser, AdminUser),
	} {
		// Keys and tokens are secrets; the certificates are not, but 0600 costs nothing here.
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return credentials{}, fmt.Errorf("write %s: %w", path, err)
		}
	}
	return c, nil
}

// ensureIssued issues what the CA signs for this run unless a former run left it: the serving
// certificate (again when it lacks the address the API server now serves on) and the client
// certificate the API server presents to kubelets.
func (c credentials) ensureIssued(serviceIP, address net.IP) error {
	var ca *pki.CA
	loadCA := func() (*pki.CA, error) {
		if ca != nil {
			return ca, nil
		}
		key, err := os.ReadFile(c.caKey)
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", c.caKey, err)
		}
		if ca, err = pki.ParseCA(c.caPEM, key); err != nil {
			return nil, fmt.Errorf("%s: %w (remove the control plane's directory to start over)", c.caCert, err)
		}
		return ca, nil
	}
	ips := []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback, serviceIP}
	if address != nil && !address.IsLoopback() {
		ips = append(ips, address)
	}
	issue := func(cert, key string, req pki.Request) error {
		ca, err := loadCA()
		if err != nil {
			return err
		}
		pair, err := ca.Issue(req)
		if err != nil {
			return err
		}
		for path, data := range map[string][]byte{cert: pair.CertPEM, key: pair.KeyPEM} {
			if err := os.WriteFile(path, data, 0o600); err != nil {
				return fmt.Errorf("write %s: %w", path, err)
			}
		}
		return nil
	}
	if !certCovers(c.servingCert, c.servKey, ips) {
		if err := issue(c.servingCert, c.servKey, pki.Request{
			CommonName: "kube-apiserver",
			DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local"},
			IPs:        ips,
			Server:     true,
		}); err != nil {
			return err
		}
	}
	if !certCovers(c.kubeletCert, c.kubeletKey, nil) {
		return issue(c.kubeletCert, c.kubeletKey, pki.Request{CommonName: KubeletClientUser, Client: true})
	}
	return nil
}

// certCovers reports whether the certificate and key files exist and the certificate names
// every one of ips.
func certCovers(certFile, keyFile string, ips []net.IP) bool {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil || pair.Leaf == nil {
		return false
	}
	for _, ip := range ips {
		if !slices.ContainsFunc(pair.Leaf.IPAddresses, ip.Equal) {
			return false
		}
	}
	return true
}

// writeKubeconfig writes a kubeconfig for server with the admin token, mode 0600.
func writeKubeconfig(path, server string, c credentials) error {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["cozylab"] = &clientcmdapi.Cluster{Server: server, CertificateAuthorityData: c.caPEM}
	cfg.AuthInfos[AdminUser] = &clientcmdapi.AuthInfo{Token: c.token}
	cfg.Contexts["cozylab"] = &clientcmdapi.Context{Cluster: "cozylab", AuthInfo: AdminUser}
	cfg.CurrentContext = "cozylab"
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		return fmt.Errorf("write kubeconfig %s: %w", path, err)
	}
	// WriteToFile creates the file 0600, but keep that true over an existing file too.
	if err := os.Chmod(path, 0o600); err != nil {
		return fmt.Errorf("restrict kubeconfig %s: %w", path, err)
	}
	return nil
}
