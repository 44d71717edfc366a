package kubeconfig

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

func writeConfig(t *testing.T, path, name, server string) {
	t.Helper()
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: server}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: "t-" + name}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
	cfg.CurrentContext = name
	require.NoError(t, clientcmd.WriteToFile(*cfg, path))
}

func TestMergeKeepsOtherClustersAndSwitchesContext(t *testing.T) {
	dir := t.TempDir()
	labPath, target := filepath.Join(dir, "lab"), filepath.Join(dir, "kube", "config")
	writeConfig(t, labPath, "cozylab", "https://127.0.0.1:6443")
	require.NoError(t, os.MkdirAll(filepath.Dir(target), 0o700))
	writeConfig(t, target, "prod", "https://prod:6443")

	require.NoError(t, Merge(labPath, target, "cozylab-dev"))
	got, err := clientcmd.LoadFromFile(target)
	require.NoError(t, err)
	assert.Equal(t, "cozylab-dev", got.CurrentContext)
	assert.Equal(t, "https://127.0.0.1:6443", got.Clusters["cozylab-dev"].Server)
	assert.Equal(t, "t-cozylab", got.AuthInfos["cozylab-dev"].Token)
	assert.Equal(t, "https://prod:6443", got.Clusters["prod"].Server, "other clusters stay")
	fi, err := os.Stat(target)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	require.NoError(t, Merge(labPath, filepath.Join(dir, "new", "config"), "cozylab-dev"), "a missing target is created")
	require.ErrorContains(t, Merge(filepath.Join(dir, "none"), target, "x"), "read the lab's kubeconfig")
}
