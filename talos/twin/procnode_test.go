package twin_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/talos/machineconfig"
	"github.com/cozylab/cozylab/talos/twin"
)

// idleProcessNode is a ProcessNode whose binaries do not exist: enough for everything that
// happens before etcd starts.
func idleProcessNode(t *testing.T) (*twin.ProcessNode, string) {
	t.Helper()

	dir := t.TempDir()
	node, err := twin.NewProcessNode(twin.ProcessOptions{
		Hostname: "cp-1", Address: net.IPv4(127, 0, 0, 1), StateDir: dir,
		EtcdPath: "/nonexistent/etcd", APIServerPath: "/nonexistent/kube-apiserver",
		JoinEndpoints: []string{"127.0.0.1:1"}, // nothing listens: the join keeps waiting
	})
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, node.Close(context.Background())) })

	return node, dir
}

func TestProcessNodeBeforeConfig(t *testing.T) {
	node, _ := idleProcessNode(t)
	ctx := callCtx(t)

	services, err := node.Services(ctx)
	require.NoError(t, err)
	assert.Empty(t, services, "a node in maintenance runs nothing")

	require.ErrorIs(t, node.Bootstrap(ctx), twin.ErrNotReady)

	_, err = node.Kubeconfig(ctx)
	require.ErrorIs(t, err, twin.ErrNotReady)

	_, err = node.EtcdMembers(ctx)
	require.ErrorIs(t, err, twin.ErrNotReady)
}

func TestProcessNodeConfigured(t *testing.T) {
	node, dir := idleProcessNode(t)
	ctx := callCtx(t)
	cl := newCluster(t)

	cfg, _, err := machineconfig.ValidateBytes(cl.Config)
	require.NoError(t, err)
	require.NoError(t, node.Configure(ctx, cfg))
	assert.FileExists(t, filepath.Join(dir, "config.yaml"))

	services, err := node.Services(ctx)
	require.NoError(t, err)
	require.Len(t, services, 1)
	assert.Equal(t, "etcd", services[0].ID)
	assert.Equal(t, "Preparing", services[0].State, "etcd waits to join or be bootstrapped")

	_, err = node.EtcdMembers(ctx)
	require.ErrorIs(t, err, twin.ErrNotReady)

	kubeconfig, err := node.Kubeconfig(ctx)
	require.NoError(t, err)

	kc, err := clientcmd.Load(kubeconfig)
	require.NoError(t, err)

	kctx := kc.Contexts[kc.CurrentContext]
	require.NotNil(t, kctx)
	assert.Equal(t, "https://127.0.0.100:6443", kc.Clusters[kctx.Cluster].Server, "the cluster endpoint of the config")

	block, _ := pem.Decode(kc.AuthInfos[kctx.AuthInfo].ClientCertificateData)
	require.NotNil(t, block)

	crt, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	assert.Equal(t, []string{"system:masters"}, crt.Subject.Organization)
	assert.True(t, crt.NotAfter.After(time.Now().Add(300*24*time.Hour)))

	_, err = node.ServiceLog(ctx, "etcd")
	require.Error(t, err, "etcd has not run, so it has no log")
}

func TestNewProcessNodeNeedsOptions(t *testing.T) {
	_, err := twin.NewProcessNode(twin.ProcessOptions{Hostname: "cp-1"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no address")
}

func TestProcessNodeRebootStopsAndHandsOver(t *testing.T) {
	power := make(chan twin.PowerAction, 1)
	node, err := twin.NewProcessNode(twin.ProcessOptions{
		Hostname: "cp-1", Address: net.IPv4(127, 0, 0, 1), StateDir: t.TempDir(),
		EtcdPath: "/nonexistent/etcd", APIServerPath: "/nonexistent/kube-apiserver",
		Power: func(a twin.PowerAction) { power <- a },
	})
	require.NoError(t, err)

	ctx := callCtx(t)
	require.NoError(t, node.Reboot(ctx))

	select {
	case a := <-power:
		assert.Equal(t, twin.PowerReboot, a)
	case <-ctx.Done():
		require.Fail(t, "the power hook was not called")
	}

	cfg, _, err := machineconfig.ValidateBytes(newCluster(t).Config)
	require.NoError(t, err)
	require.Error(t, node.Configure(ctx, cfg), "a node going down takes no config")
}
