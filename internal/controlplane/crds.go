package controlplane

import (
	"context"
	"fmt"
	"io/fs"
	"slices"
	"time"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
)

// fieldManager owns what the lab applies itself.
const fieldManager = "cozylab-lab"

// InstallCRDs server-side applies every CustomResourceDefinition in the files of fsys matching
// the patterns (fs.Glob, such as "core/flux-aio/crds/*.yaml") and waits until each is
// Established and served by discovery (a controller started earlier fails to find its kinds).
func InstallCRDs(ctx context.Context, cfg *rest.Config, fsys fs.FS, patterns []string, step progress.Step, timeout time.Duration) error {
	var files []string
	for _, p := range patterns {
		matched, err := fs.Glob(fsys, p)
		if err != nil || len(matched) == 0 {
			return fmt.Errorf("find CRDs %s: none found (%v)", p, err)
		}
		files = append(files, matched...)
	}
	cs, err := apiextensions.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create apiextensions client: %w", err)
	}
	var crds []*apiextensionsv1.CustomResourceDefinition
	for _, f := range files {
		crd, err := readCRD(fsys, f)
		if err != nil {
			return err
		}
		raw, err := yaml.Marshal(crd)
		if err != nil {
			return fmt.Errorf("encode CRD %s: %w", crd.Name, err)
		}
		force := true
		if _, err := cs.ApiextensionsV1().CustomResourceDefinitions().Patch(ctx, crd.Name, types.ApplyYAMLPatchType, raw,
			metav1.PatchOptions{FieldManager: fieldManager, Force: &force}); err != nil {
			return fmt.Errorf("apply CRD %s: %w", crd.Name, err)
		}
		crds = append(crds, crd)
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return fmt.Errorf("create discovery client: %w", err)
	}
	// Discovery cannot be watched: a bounded poll, of one CRD list and one discovery request
	// per group-version a check (about client-go's default 5 requests a second: a check per
	// CRD and 10 a second filled its rate limiter on a loaded host and the wait ran out).
	return condition.Wait(ctx, condition.Condition{
		Name: fmt.Sprintf("%d CRDs Established and served", len(crds)),
		Check: func(ctx context.Context) error {
			return crdsServed(ctx, cs, dc, crds)
		},
	}, condition.Poll{Interval: 500 * time.Millisecond, Timeout: timeout, AttemptTimeout: 30 * time.Second}, condition.StepReporter(step))
}

func readCRD(fsys fs.FS, name string) (*apiextensionsv1.CustomResourceDefinition, error) {
	raw, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, fmt.Errorf("read CRD %s: %w", name, err)
	}
	crd := &apiextensionsv1.CustomResourceDefinition{}
	if err := yaml.Unmarshal(raw, crd); err != nil {
		return nil, fmt.Errorf("parse CRD %s: %w", name, err)
	}
	crd.APIVersion, crd.Kind = "apiextensions.k8s.io/v1", "CustomResourceDefinition"
	crd.Status = apiextensionsv1.CustomResourceDefinitionStatus{}
	return crd, nil
}

// crdsServed says which of crds is not yet Established, or not yet listed by discovery.
func crdsServed(ctx context.Context, cs apiextensions.Interface, dc discovery.DiscoveryInterface, crds []*apiextensionsv1.CustomResourceDefinition) error {
	list, err := cs.ApiextensionsV1().CustomResourceDefinitions().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list CRDs: %w", err)
	}
	got := map[string]*apiextensionsv1.CustomResourceDefinition{}
	for i := range list.Items {
		got[list.Items[i].Name] = &list.Items[i]
	}
	served := map[string][]metav1.APIResource{} // by group-version, asked once a check
	for _, crd := range crds {
		if c, ok := got[crd.Name]; !ok || !established(c) {
			return fmt.Errorf("%s not yet Established", crd.Name)
		}
		gv := crd.Spec.Group + "/" + crd.Spec.Versions[0].Name
		resources, ok := served[gv]
		if !ok {
			rl, err := dc.ServerResourcesForGroupVersion(gv)
			if err != nil {
				return fmt.Errorf("%s not yet served: discovery of %s: %w", crd.Name, gv, err)
			}
			resources = rl.APIResources
			served[gv] = resources
		}
		if !slices.ContainsFunc(resources, func(r metav1.APIResource) bool { return r.Name == crd.Spec.Names.Plural }) {
			return fmt.Errorf("%s not yet served: %s does not list %s", crd.Name, gv, crd.Spec.Names.Plural)
		}
	}
	return nil
}
