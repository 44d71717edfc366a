package platform

import (
	"context"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/install"
)

// platformVariants are the variants of the platform PackageSource, each the core/platform chart
// with its values files (upstream's list, hard-coded there too).
var platformVariants = []struct {
	name   string
	values []string
}{
	{"default", []string{"values.yaml"}},
	{"isp-full", []string{"values.yaml", "values-isp-full.yaml"}},
	{"isp-hosted", []string{"values.yaml", "values-isp-hosted.yaml"}},
	{"isp-full-generic", []string{"values.yaml", "values-isp-full-generic.yaml"}},
}

// PackageSourceName is the name of the platform PackageSource (and Package).
func PackageSourceName(sourceName string) string { return "cozystack." + sourceName }

// PackageSource builds the platform PackageSource for a source of kind named sourceName.
func PackageSource(sourceName, kind string) *v1alpha1.PackageSource {
	ps := &v1alpha1.PackageSource{
		TypeMeta: metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "PackageSource"},
		ObjectMeta: metav1.ObjectMeta{
			Name:        PackageSourceName(sourceName),
			Annotations: map[string]string{v1alpha1.AnnotationSkipValues: "true"},
		},
		Spec: v1alpha1.PackageSourceSpec{
			SourceRef: &v1alpha1.PackageSourceRef{Kind: kind, Name: sourceName, Namespace: v1alpha1.SystemNamespace, Path: "/"},
		},
	}
	for _, v := range platformVariants {
		ps.Spec.Variants = append(ps.Spec.Variants, v1alpha1.Variant{
			Name: v.name,
			Components: []v1alpha1.Component{{
				Name: "platform", Path: "core/platform", ValuesFiles: v.values,
				Install: &v1alpha1.ComponentInstall{Namespace: v1alpha1.SystemNamespace, ReleaseName: "cozystack-platform"},
			}},
		})
	}
	return ps
}

// Apply server-side applies the platform objects with the operator's field owner.
func Apply(ctx context.Context, c client.Client, objs ...client.Object) error {
	return install.ApplyObjects(ctx, c, objs...)
}

// VariantNames lists the platform variants a platform Package may choose.
func VariantNames() []string {
	var out []string
	for _, v := range platformVariants {
		out = append(out, v.name)
	}
	return out
}
