package artifacts

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/optest"
)

func TestGeneratorGolden(t *testing.T) {
	tests := map[string]*v1alpha1.PackageSource{
		// An OCI source at its root: libraries vendored, values files overwrite then merge,
		// components without install still get an artifact, dots become dashes.
		"oci-libraries-values": {
			ObjectMeta: metav1.ObjectMeta{Name: "cozystack.postgres-application", UID: "uid-1"},
			Spec: v1alpha1.PackageSourceSpec{
				SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "cozystack-packages", Namespace: "cozy-system"},
				Variants: []v1alpha1.Variant{{
					Name:      "default",
					Libraries: []v1alpha1.Library{{Path: "library/cozy-lib"}, {Name: "extra", Path: "library/x/extra-lib"}},
					Components: []v1alpha1.Component{
						{Name: "postgres", Path: "apps/postgres", Libraries: []string{"cozy-lib", "unknown-lib"}},
						{Name: "postgres-operator", Path: "system/postgres-operator", Libraries: []string{"extra"},
							ValuesFiles: []string{"values.yaml", "values-ha.yaml", "values-talos.yaml"},
							Install:     &v1alpha1.ComponentInstall{Namespace: "cozy-postgres"}},
					},
				}, {
					Name:       "v1.2",
					Components: []v1alpha1.Component{{Name: "postgres.rd", Path: "system/postgres-rd/"}, {Name: "rd", Path: "system/postgres-rd"}},
				}},
			},
		},
		// A Git source with no path defaults to packages/; a path of "/" means the root.
		"git-default-base": {
			ObjectMeta: metav1.ObjectMeta{Name: "cozystack.networking"},
			Spec: v1alpha1.PackageSourceSpec{
				SourceRef: &v1alpha1.PackageSourceRef{Kind: "GitRepository", Name: "cozystack", Namespace: "flux-system"},
				Variants:  []v1alpha1.Variant{{Name: "cilium", Components: []v1alpha1.Component{{Name: "cilium", Path: "system/cilium"}}}},
			},
		},
		"git-root-path": {
			ObjectMeta: metav1.ObjectMeta{Name: "cozystack.cozystack-platform"},
			Spec: v1alpha1.PackageSourceSpec{
				SourceRef: &v1alpha1.PackageSourceRef{Kind: "GitRepository", Name: "cozystack-platform", Namespace: "cozy-system", Path: "/"},
				Variants:  []v1alpha1.Variant{{Name: "isp-full", Components: []v1alpha1.Component{{Name: "platform", Path: "/core/platform", ValuesFiles: []string{"values.yaml", "values-isp-full.yaml"}}}}},
			},
		},
	}
	for name, ps := range tests {
		t.Run(name, func(t *testing.T) {
			ag, ok := Generator(ps)
			require.True(t, ok)
			optest.Golden(t, name, ag)
		})
	}
}

func TestGeneratorSkips(t *testing.T) {
	_, ok := Generator(&v1alpha1.PackageSource{ObjectMeta: metav1.ObjectMeta{Name: "x"}})
	assert.False(t, ok, "no sourceRef")
	_, ok = Generator(&v1alpha1.PackageSource{
		ObjectMeta: metav1.ObjectMeta{Name: "x"},
		Spec: v1alpha1.PackageSourceSpec{
			SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "s", Namespace: "n"},
			Variants:  []v1alpha1.Variant{{Name: "v", Components: []v1alpha1.Component{{Name: "c", Path: ""}, {Name: "d", Path: "a/"}}}},
		},
	})
	assert.False(t, ok, "no component with a usable path")
}

func TestArtifactName(t *testing.T) {
	assert.Equal(t, "cozystack-postgres-application-default-postgres", ArtifactName("cozystack.postgres-application", "default", "postgres"))
	assert.Equal(t, "a-b-v1-2-c-d", ArtifactName("a.b", "v1.2", "c.d"))
}
