package machineconfig_test

import (
	"strings"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/talos/machineconfig"
)

func TestGenerateHTTPRegistryMirror(t *testing.T) {
	o := labOptions(t)
	o.HTTPRegistries = []string{"10.5.0.1:5000"}

	res, err := machineconfig.Generate(o, fixedSecrets(t))
	require.NoError(t, err)

	for _, n := range res.Nodes {
		cfg, err := configloader.NewFromBytes(n.Config)
		require.NoError(t, err)

		mirrors := cfg.RegistryMirrorConfigs()
		require.Contains(t, mirrors, "10.5.0.1:5000", n.Name)
		eps := mirrors["10.5.0.1:5000"].Endpoints()
		require.Len(t, eps, 1)
		assert.Equal(t, "http://10.5.0.1:5000", eps[0].Endpoint(), "plain HTTP, the registry itself")
		assert.False(t, eps[0].OverridePath(), "containerd adds /v2/")
		assert.Equal(t, n.Name, cfg.NetworkHostnameConfig().Hostname(), "the node's own documents still apply")
	}

	// The document itself, as the nodes get it.
	doc := res.Nodes[0].Config[strings.Index(string(res.Nodes[0].Config), "kind: RegistryMirrorConfig")-len("apiVersion: v1alpha1\n"):]
	doc = doc[:strings.Index(string(doc), "---")]
	assertGolden(t, "registry-mirror", doc)
}

func TestGenerateWithoutHTTPRegistriesHasNoMirror(t *testing.T) {
	res, err := machineconfig.Generate(labOptions(t), fixedSecrets(t))
	require.NoError(t, err)
	assert.NotContains(t, string(res.Nodes[0].Config), "RegistryMirrorConfig")
}

func TestGenerateRejectsARegistryWithoutPort(t *testing.T) {
	o := labOptions(t)
	o.HTTPRegistries = []string{"10.5.0.1"}

	_, err := machineconfig.Generate(o, fixedSecrets(t))
	require.Error(t, err)
	assert.Contains(t, err.Error(), `HTTP registry "10.5.0.1" is not host:port`)
}

// Upstream registries mirrored to a lab registry: every node's config names the mirror as the
// only endpoint, without fallback, next to the lab registry's own document.
func TestGenerateRegistryMirrors(t *testing.T) {
	o := labOptions(t)
	o.HTTPRegistries = []string{"10.5.0.1:5000"}
	o.RegistryMirrors = []machineconfig.RegistryMirror{
		{Host: "ghcr.io", Endpoints: []string{"http://10.5.0.1:5000"}, SkipFallback: true},
		{Host: "registry.k8s.io", Endpoints: []string{"http://10.5.0.1:5000", "https://mirror.example.org"}},
	}

	res, err := machineconfig.Generate(o, fixedSecrets(t))
	require.NoError(t, err)

	for _, n := range res.Nodes {
		cfg, err := configloader.NewFromBytes(n.Config)
		require.NoError(t, err)

		mirrors := cfg.RegistryMirrorConfigs()
		require.Len(t, mirrors, 3, n.Name)

		ghcr := mirrors["ghcr.io"]
		require.NotNil(t, ghcr, n.Name)
		require.Len(t, ghcr.Endpoints(), 1)
		assert.Equal(t, "http://10.5.0.1:5000", ghcr.Endpoints()[0].Endpoint())
		assert.True(t, ghcr.SkipFallback(), "no pull of a mirrored host leaves for the upstream")

		k8s := mirrors["registry.k8s.io"]
		require.NotNil(t, k8s, n.Name)
		var eps []string
		for _, e := range k8s.Endpoints() {
			eps = append(eps, e.Endpoint())
		}
		assert.Equal(t, []string{"http://10.5.0.1:5000", "https://mirror.example.org"}, eps, "in order")
		assert.False(t, k8s.SkipFallback())

		assert.Contains(t, mirrors, "10.5.0.1:5000", "the lab registry's own document stays")
	}
}

func TestGenerateRejectsBadRegistryMirrors(t *testing.T) {
	for name, tc := range map[string]struct {
		mirror machineconfig.RegistryMirror
		want   string
	}{
		"no host":           {machineconfig.RegistryMirror{Endpoints: []string{"http://10.5.0.1:5000"}}, `registry mirror host "" is not a registry host`},
		"no endpoint":       {machineconfig.RegistryMirror{Host: "ghcr.io"}, "registry mirror ghcr.io has no endpoint"},
		"not a URL":         {machineconfig.RegistryMirror{Host: "ghcr.io", Endpoints: []string{"10.5.0.1:5000"}}, `endpoint "10.5.0.1:5000" is not an http:// or https:// URL`},
		"with a path":       {machineconfig.RegistryMirror{Host: "ghcr.io", Endpoints: []string{"http://10.5.0.1:5000/v2/ghcr"}}, "is not an http:// or https:// URL of a host"},
		"the HTTP registry": {machineconfig.RegistryMirror{Host: "10.5.0.1:5000", Endpoints: []string{"http://10.5.0.1:5000"}}, "registry 10.5.0.1:5000 is configured twice"},
	} {
		t.Run(name, func(t *testing.T) {
			o := labOptions(t)
			o.HTTPRegistries = []string{"10.5.0.1:5000"}
			o.RegistryMirrors = []machineconfig.RegistryMirror{tc.mirror}

			_, err := machineconfig.Generate(o, fixedSecrets(t))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}
