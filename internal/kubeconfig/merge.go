// Package kubeconfig merges a lab's kubeconfig into a user's, as `kind export kubeconfig` does.
package kubeconfig

import (
	"fmt"
	"os"
	"path/filepath"

	"k8s.io/client-go/tools/clientcmd"
)

// Merge adds the cluster, user and context of the kubeconfig at labPath to the
// kubeconfig at target (created if missing) under name, and makes name the current context,
// as `kind export kubeconfig` does. Entries of other clusters are kept; target stays 0600.
func Merge(labPath, target, name string) error {
	lab, err := clientcmd.LoadFromFile(labPath)
	if err != nil {
		return fmt.Errorf("read the lab's kubeconfig: %w", err)
	}
	ctx := lab.Contexts[lab.CurrentContext]
	if ctx == nil {
		return fmt.Errorf("%s has no current context", labPath)
	}
	cfg, err := clientcmd.LoadFromFile(target)
	if os.IsNotExist(err) {
		cfg, err = clientcmd.Load(nil)
	}
	if err != nil {
		return fmt.Errorf("read %s: %w", target, err)
	}
	cfg.Clusters[name] = lab.Clusters[ctx.Cluster]
	cfg.AuthInfos[name] = lab.AuthInfos[ctx.AuthInfo]
	merged := ctx.DeepCopy()
	merged.Cluster, merged.AuthInfo = name, name
	cfg.Contexts[name] = merged
	cfg.CurrentContext = name
	if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
		return fmt.Errorf("create %s: %w", filepath.Dir(target), err)
	}
	if err := clientcmd.WriteToFile(*cfg, target); err != nil {
		return fmt.Errorf("write %s: %w", target, err)
	}
	return os.Chmod(target, 0o600)
}
