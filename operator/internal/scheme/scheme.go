// Package scheme builds the runtime scheme every operator client and manager uses: Kubernetes
// core and apiextensions, cozystack.io/v1alpha1, and the Flux kinds the operator writes.
package scheme

import (
	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	sourcewatcherv1beta1 "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// New returns a scheme with every kind the operator reads or writes.
func New() (*runtime.Scheme, error) {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		apiextensionsv1.AddToScheme,
		v1alpha1.AddToScheme,
		helmv2.AddToScheme,
		sourcev1.AddToScheme,
		sourcewatcherv1beta1.AddToScheme,
	} {
		if err := add(s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// Must is New for package-level use; the registrations above cannot fail in practice.
func Must() *runtime.Scheme {
	s, err := New()
	if err != nil {
		panic(err)
	}
	return s
}
