package cptest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// InstallCRDFiles creates the CustomResourceDefinitions in the files matching the globs (a
// test in lab/ reads the operator's generated CRDs from disk, e.g.
// "../../operator/flux/crds/*.yaml": lab/ may not import them), and waits until each is
// Established and served by discovery.
func InstallCRDFiles(t testing.TB, cfg *rest.Config, globs ...string) {
	t.Helper()
	ctx := context.Background()
	cs := apiextensions.NewForConfigOrDie(cfg)
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, g := range globs {
		files, err := filepath.Glob(g)
		if err != nil || len(files) == 0 {
			t.Fatalf("find CRD files %s: none (run from the package directory?) %v", g, err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				t.Fatalf("read CRD %s: %v", f, err)
			}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := yaml.Unmarshal(raw, crd); err != nil {
				t.Fatalf("parse CRD %s: %v", f, err)
			}
			if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Create(ctx, crd, metav1.CreateOptions{}); err != nil {
				t.Fatalf("create CRD %s: %v", crd.Name, err)
			}
			crds = append(crds, crd)
		}
	}
	dc := discovery.NewDiscoveryClientForConfigOrDie(cfg)
	// A bounded poll: discovery cannot be watched.
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	timeout := time.After(30 * time.Second)
	for _, crd := range crds {
		gv := crd.Spec.Group + "/" + crd.Spec.Versions[0].Name
		for !served(ctx, cs, dc, crd, gv) {
			select {
			case <-timeout:
				t.Fatalf("CRD %s not Established and served in 30s", crd.Name)
			case <-tick.C:
			}
		}
	}
}

func served(ctx context.Context, cs apiextensions.Interface, dc discovery.DiscoveryInterface, crd *apiextensionsv1.CustomResourceDefinition, gv string) bool {
	got, err := cs.ApiextensionsV1().CustomResourceDefinitions().Get(ctx, crd.Name, metav1.GetOptions{})
	if err != nil {
		return false
	}
	established := false
	for _, c := range got.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			established = true
		}
	}
	if !established {
		return false
	}
	list, err := dc.ServerResourcesForGroupVersion(gv)
	if err != nil {
		return false
	}
	for _, r := range list.APIResources {
		if r.Name == crd.Spec.Names.Plural {
			return true
		}
	}
	return false
}
