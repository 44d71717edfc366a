package scheme

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestSchemeKnowsEveryKindTheOperatorWrites(t *testing.T) {
	s, err := New()
	require.NoError(t, err)
	for _, gvk := range []schema.GroupVersionKind{
		{Group: "cozystack.io", Version: "v1alpha1", Kind: "Package"},
		{Group: "cozystack.io", Version: "v1alpha1", Kind: "PackageSource"},
		{Group: "cozystack.io", Version: "v1alpha1", Kind: "ApplicationDefinition"},
		{Group: "helm.toolkit.fluxcd.io", Version: "v2", Kind: "HelmRelease"},
		{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "OCIRepository"},
		{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "GitRepository"},
		{Group: "source.toolkit.fluxcd.io", Version: "v1", Kind: "ExternalArtifact"},
		{Group: "source.extensions.fluxcd.io", Version: "v1beta1", Kind: "ArtifactGenerator"},
		{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "", Version: "v1", Kind: "Secret"},
	} {
		assert.True(t, s.Recognizes(gvk), gvk.String())
	}
}
