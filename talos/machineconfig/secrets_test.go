package machineconfig_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/talos/machineconfig"
)

func TestLoadOrCreateSecretsCreatesPrivateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state", "secrets.yaml")

	bundle, err := machineconfig.LoadOrCreateSecrets(path)
	require.NoError(t, err)
	require.NoError(t, bundle.Validate())

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func TestLoadOrCreateSecretsReusesBundle(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.yaml")

	first, err := machineconfig.LoadOrCreateSecrets(path)
	require.NoError(t, err)

	second, err := machineconfig.LoadOrCreateSecrets(path)
	require.NoError(t, err)

	assert.Equal(t, first.Cluster.ID, second.Cluster.ID)
	assert.Equal(t, first.Certs.OS.Crt, second.Certs.OS.Crt)
	assert.Equal(t, first.Secrets.BootstrapToken, second.Secrets.BootstrapToken)

	// Configs generated from the reloaded bundle carry the same CA as from the original.
	a, err := machineconfig.Generate(labOptions(t), first)
	require.NoError(t, err)
	b, err := machineconfig.Generate(labOptions(t), second)
	require.NoError(t, err)
	assert.Equal(t, string(a.Nodes[0].Config), string(b.Nodes[0].Config))
}

func TestLoadOrCreateSecretsRejectsBrokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "secrets.yaml")
	require.NoError(t, os.WriteFile(path, []byte("cluster: {}\n"), 0o600))

	_, err := machineconfig.LoadOrCreateSecrets(path)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "delete the file to start a new cluster")
}

func TestSaveTalosconfig(t *testing.T) {
	res, err := machineconfig.Generate(labOptions(t), fixedSecrets(t))
	require.NoError(t, err)

	path := filepath.Join(t.TempDir(), "talosconfig")
	require.NoError(t, machineconfig.SaveTalosconfig(path, res.Talosconfig))

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	loaded, err := machineconfig.LoadTalosconfig(path)
	require.NoError(t, err)
	assert.Equal(t, res.Talosconfig.Contexts["cozylab"].Endpoints, loaded.Contexts["cozylab"].Endpoints)
	assert.Equal(t, res.Talosconfig.Contexts["cozylab"].CA, loaded.Contexts["cozylab"].CA)
}
