package twin

import (
	"fmt"
	"time"

	"github.com/siderolabs/crypto/x509"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"sigs.k8s.io/yaml"
)

// kubeconfigValidity is how long an admin kubeconfig works; Talos issues them for a year too.
const kubeconfigValidity = 365 * 24 * time.Hour

// adminKubeconfig issues a client certificate in system:masters from the cluster CA and wraps
// it in a kubeconfig whose server is the config's cluster endpoint, as talosctl kubeconfig does.
func adminKubeconfig(cfg config.Provider) ([]byte, error) {
	c := cfg.Cluster()

	ca, err := loadCA("cluster", c.IssuingCA())
	if err != nil {
		return nil, err
	}

	spec := adminSpec()

	pair, err := x509.NewKeyPair(ca,
		x509.CommonName(spec.cn),
		x509.Organization(spec.org...),
		x509.ExtKeyUsage(spec.usages),
		x509.NotBefore(time.Now().Add(-time.Hour)),
		x509.NotAfter(time.Now().Add(kubeconfigValidity)),
	)
	if err != nil {
		return nil, fmt.Errorf("issue admin certificate: %w", err)
	}

	name := c.Name()
	user := "admin@" + name

	kc := map[string]any{
		"apiVersion": "v1",
		"kind":       "Config",
		"clusters": []any{map[string]any{"name": name, "cluster": map[string]any{
			"server":                     c.Endpoint().String(),
			"certificate-authority-data": c.IssuingCA().Crt,
		}}},
		"users": []any{map[string]any{"name": user, "user": map[string]any{
			"client-certificate-data": pair.CrtPEM,
			"client-key-data":         pair.KeyPEM,
		}}},
		"contexts":        []any{map[string]any{"name": user, "context": map[string]any{"cluster": name, "user": user}}},
		"current-context": user,
	}

	out, err := yaml.Marshal(kc)
	if err != nil {
		return nil, fmt.Errorf("encode kubeconfig: %w", err)
	}

	return out, nil
}
