//go:build integration

package appdef

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/crds"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

// spy records the options of every List it passes on to the real reader.
type spy struct {
	Lister
	calls []client.ListOptions
}

func (s *spy) List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	o := client.ListOptions{}
	o.ApplyOptions(opts)
	s.calls = append(s.calls, o)
	return s.Lister.List(ctx, list, opts...)
}

func newClient(t *testing.T, cfg *rest.Config) client.WithWatch {
	t.Helper()
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	return c
}

func newDefinition(name, kind string) *v1alpha1.ApplicationDefinition {
	return &v1alpha1.ApplicationDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: v1alpha1.ApplicationDefinitionSpec{
			Application: v1alpha1.ApplicationDefinitionApplication{
				Kind: kind, OpenAPISchema: `{"title":"` + kind + `"}`, Plural: "things", Singular: "thing",
			},
			Release: v1alpha1.ApplicationDefinitionRelease{
				ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: name, Namespace: "cozy-system"},
				Prefix:   name + "-",
			},
			Dashboard: &v1alpha1.ApplicationDefinitionDashboard{Singular: kind, Plural: kind + "s", Category: "Test"},
		},
	}
}

func TestFindByKindAgainstAPIServer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := cptest.Config(t)
	cfg.QPS, cfg.Burst = 200, 400 // paging makes many requests; client-side throttling only slows the test

	// Without the CRD the list fails, and the error names the resource, not a missing kind.
	_, err := FindByKind(ctx, newClient(t, cfg), "HTTPCache")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "list applicationdefinitions.cozystack.io/v1alpha1: ")
	assert.False(t, errors.Is(err, ErrNotFound), "a failed list is not a missing kind: %v", err)

	c := newClient(t, cfg)
	require.NoError(t, install.CRDs(ctx, c, crds.FS, []string{"cozystack.io_applicationdefinitions.yaml"}, time.Minute))
	// Discovery publishes a new group shortly after its CRD is Established.
	require.Eventually(t, func() bool {
		return c.List(ctx, &v1alpha1.ApplicationDefinitionList{}) == nil
	}, 10*time.Second, 50*time.Millisecond, "the ApplicationDefinition API is discoverable")
	// "httpcache" is the lower-cased kind HTTPCache; a lookup by name would find this decoy.
	defs := []*v1alpha1.ApplicationDefinition{
		newDefinition("http-cache", "HTTPCache"), newDefinition("httpcache", "Decoy"),
		newDefinition("tcp-balancer", "TCPBalancer"), newDefinition("vm-disk", "VMDisk"),
	}
	for i := range 4 {
		defs = append(defs, newDefinition(fmt.Sprintf("filler-%d", i), fmt.Sprintf("Filler%d", i)))
	}
	for _, d := range defs {
		require.NoError(t, c.Create(ctx, d))
	}

	informers, err := cache.New(cfg, cache.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	go func() { assert.NoError(t, informers.Start(ctx)) }()

	for _, tc := range []struct {
		name   string
		finder Finder
		pages  int // List calls expected with a spy; 0 = not checked
	}{
		{name: "direct client, one request", finder: Finder{Reader: c}, pages: 1},
		{name: "direct client, pages of 2", finder: Finder{Reader: c, PageSize: 2}, pages: 4},
		{name: "cache", finder: Finder{Reader: informers}, pages: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &spy{Lister: tc.finder.Reader}
			tc.finder.Reader = s
			for kind, name := range map[string]string{"HTTPCache": "http-cache", "VMDisk": "vm-disk", "TCPBalancer": "tcp-balancer"} {
				got, err := tc.finder.ByKind(ctx, kind)
				require.NoError(t, err, kind)
				assert.Equal(t, name, got.Name)
				assert.Equal(t, `{"title":"`+kind+`"}`, got.Spec.Application.OpenAPISchema, "the whole object is returned")
				assert.Equal(t, kind+"s", got.Spec.Dashboard.Plural)
			}
			_, err := tc.finder.ByKind(ctx, "httpcache")
			assert.ErrorIs(t, err, ErrNotFound)
			assert.ErrorContains(t, err, `"httpcache"`)

			require.Len(t, s.calls, 4*tc.pages, "three finds and one miss")
			for i, call := range s.calls {
				if tc.finder.PageSize > 0 {
					assert.Equal(t, tc.finder.PageSize, call.Limit)
					assert.Equal(t, i%tc.pages != 0, call.Continue != "", "call %d continues the previous page", i)
				} else {
					assert.Zero(t, call.Limit)
				}
			}
		})
	}

	t.Run("the result is a copy", func(t *testing.T) {
		got, err := FindByKind(ctx, informers, "VMDisk")
		require.NoError(t, err)
		got.Spec.Application.OpenAPISchema = "changed"
		again, err := FindByKind(ctx, informers, "VMDisk")
		require.NoError(t, err)
		assert.Equal(t, `{"title":"VMDisk"}`, again.Spec.Application.OpenAPISchema)
	})

	t.Run("a cache refuses paging loudly", func(t *testing.T) {
		_, err := Finder{Reader: informers, PageSize: 2}.ByKind(ctx, "VMDisk")
		assert.ErrorContains(t, err, "list applicationdefinitions.cozystack.io/v1alpha1 (page 2): ")
	})

	t.Run("an empty kind is refused", func(t *testing.T) {
		_, err := FindByKind(ctx, c, "")
		assert.EqualError(t, err, "find ApplicationDefinition: the kind is empty")
	})
}
