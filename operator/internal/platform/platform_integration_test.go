//go:build integration

package platform

import (
	"context"
	"testing"
	"time"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/crds"
	fluxcrds "github.com/cozylab/cozylab/operator/flux/crds"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

// TestApplyKeepsForeignFields re-applies the platform source and PackageSource the way every
// operator start does: fields another manager added survive (upstream's Update dropped them),
// while the operator's own fields are brought back to what the flags say.
func TestApplyKeepsForeignFields(t *testing.T) {
	ctx := context.Background()
	c, err := client.NewWithWatch(cptest.Config(t), client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	require.NoError(t, install.CRDs(ctx, c, crds.FS, crds.Operator, time.Minute))
	require.NoError(t, install.CRDs(ctx, c, fluxcrds.FS, nil, time.Minute))
	require.NoError(t, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cozy-system"}}))

	src, err := Source(SourceOptions{URL: "oci://registry/packages", Name: "cozystack-platform", Ref: map[string]string{"tag": "v1"}})
	require.NoError(t, err)
	require.NoError(t, Apply(ctx, c, src, PackageSource("cozystack-platform", KindOCIRepository)))

	repo := &sourcev1.OCIRepository{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: "cozystack-platform"}, repo))
	repo.Labels = map[string]string{"team": "platform"}
	repo.Annotations = map[string]string{"note": "keep me"}
	repo.Spec.Reference.Tag = "tampered"
	require.NoError(t, c.Update(ctx, repo, client.FieldOwner("someone-else")))
	ps := &v1alpha1.PackageSource{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "cozystack.cozystack-platform"}, ps))
	ps.Labels = map[string]string{"team": "platform"}
	require.NoError(t, c.Update(ctx, ps, client.FieldOwner("someone-else")))

	src, err = Source(SourceOptions{URL: "oci://registry/packages", Name: "cozystack-platform", Ref: map[string]string{"tag": "v2"}})
	require.NoError(t, err)
	require.NoError(t, Apply(ctx, c, src, PackageSource("cozystack-platform", KindOCIRepository)))

	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: "cozy-system", Name: "cozystack-platform"}, repo))
	assert.Equal(t, "platform", repo.Labels["team"])
	assert.Equal(t, "keep me", repo.Annotations["note"])
	assert.Equal(t, "v2", repo.Spec.Reference.Tag)
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "cozystack.cozystack-platform"}, ps))
	assert.Equal(t, "platform", ps.Labels["team"])
	assert.Len(t, ps.Spec.Variants, 4)
}
