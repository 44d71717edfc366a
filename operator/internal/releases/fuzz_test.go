package releases

import (
	"encoding/json"
	"testing"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/artifacts"
)

// FuzzSpecs feeds arbitrary PackageSource and Package specs through everything the two
// controllers compute from them without an API server: no input may panic. Run it with
// `go test -fuzz=FuzzSpecs ./operator/internal/releases/`; the seeds run with every go test.
func FuzzSpecs(f *testing.F) {
	seed, _ := json.Marshal(demoSource())
	f.Add(seed, []byte(`{"metadata":{"name":"cozystack.demo"},"spec":{"variant":"full","components":{"operator":{"enabled":false,"values":{"a":1}}}}}`))
	f.Add([]byte(`{"spec":{"sourceRef":{"kind":"GitRepository","name":"x","namespace":"y","path":"///"},"variants":[{"name":"","components":[{"name":"","path":"/","install":{"dependsOn":["","x"]}}]}]}}`), []byte(`{}`))
	f.Add([]byte(`{"spec":{"variants":[{"name":"default","libraries":[{"path":""}],"components":[{"name":"c","path":"a/b","libraries":[""],"valuesFiles":["",""],"install":{"namespace":"n","dependsOn":["c"]}}]}]}}`), []byte(`{"spec":{"components":{"c":{"values":null}}}}`))
	f.Fuzz(func(t *testing.T, psJSON, pkgJSON []byte) {
		ps, pkg := &v1alpha1.PackageSource{}, &v1alpha1.Package{}
		if json.Unmarshal(psJSON, ps) != nil || json.Unmarshal(pkgJSON, pkg) != nil {
			return
		}
		artifacts.Generator(ps)
		privilegedNamespaces(ps)
		_, _ = packageDependsOn(pkg, ps)
		for i := range ps.Spec.Variants {
			v := &ps.Spec.Variants[i]
			_, _ = targetNamespaces(pkg, v)
			for j := range v.Components {
				c := &v.Components[j]
				if c.Install == nil {
					continue
				}
				deps, err := componentDependsOn(v, c)
				if err != nil {
					continue
				}
				hr := buildHelmRelease(pkg, ps, v.Name, desired{component: c, dependsOn: deps}, c.Install.Privileged, DefaultSettings)
				if _, err := desiredHash(hr); err != nil {
					t.Fatalf("hash a rendered HelmRelease: %v", err)
				}
			}
		}
	})
}
