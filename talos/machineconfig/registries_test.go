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
