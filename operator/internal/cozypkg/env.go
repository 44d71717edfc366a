package cozypkg

import (
	"context"
	"fmt"
	"io"

	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

// Env is what every command runs with: a client and the three standard streams.
type Env struct {
	// Client reads and writes Packages and PackageSources.
	Client client.Client
	// In answers the prompts (variant choices, the deletion confirmation).
	In io.Reader
	// Out receives results a script may consume: tables and DOT.
	Out io.Writer
	// Err receives progress lines, warnings and prompts.
	Err io.Writer
}

// NewClient builds a client for the cluster of kubeconfig, or, when kubeconfig is empty, of
// the default loading rules (KUBECONFIG, ~/.kube/config, then the in-cluster service account).
func NewClient(kubeconfig string) (client.Client, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if kubeconfig != "" {
			return nil, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
		}
		return nil, fmt.Errorf("load kubeconfig (pass --kubeconfig or set KUBECONFIG): %w", err)
	}
	s, err := scheme.New()
	if err != nil {
		return nil, fmt.Errorf("build scheme: %w", err)
	}
	c, err := client.New(cfg, client.Options{Scheme: s})
	if err != nil {
		return nil, fmt.Errorf("create client for %s: %w", cfg.Host, err)
	}
	return c, nil
}

// sources lists every PackageSource, sorted by name (the API server's order).
func (e *Env) sources(ctx context.Context) ([]v1alpha1.PackageSource, error) {
	list := &v1alpha1.PackageSourceList{}
	if err := e.Client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("list PackageSources: %w", err)
	}
	return list.Items, nil
}

// packages lists every Package, sorted by name (the API server's order).
func (e *Env) packages(ctx context.Context) ([]v1alpha1.Package, error) {
	list := &v1alpha1.PackageList{}
	if err := e.Client.List(ctx, list); err != nil {
		return nil, fmt.Errorf("list Packages: %w", err)
	}
	return list.Items, nil
}

// sourceMap indexes PackageSources by name.
func sourceMap(items []v1alpha1.PackageSource) map[string]*v1alpha1.PackageSource {
	m := make(map[string]*v1alpha1.PackageSource, len(items))
	for i := range items {
		m[items[i].Name] = &items[i]
	}
	return m
}

// packageMap indexes Packages by name.
func packageMap(items []v1alpha1.Package) map[string]*v1alpha1.Package {
	m := make(map[string]*v1alpha1.Package, len(items))
	for i := range items {
		m[items[i].Name] = &items[i]
	}
	return m
}
