//go:build integration

package twin_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/talos/flows"
	"github.com/cozylab/cozylab/talos/machineconfig"
	"github.com/cozylab/cozylab/talos/twin"
)

// processPoll bounds the waits of this test; etcd and kube-apiserver start in seconds on the host.
var processPoll = condition.Poll{Interval: 250 * time.Millisecond, Timeout: 2 * time.Minute, AttemptTimeout: 5 * time.Second}

// cachedBinary finds name in the binaries cache (<user cache>/cozylab/bin/<name>/<version>/<name>);
// talos/ cannot import internal/bincache, so the test looks where it writes.
func cachedBinary(t *testing.T, name string) string {
	t.Helper()

	cache, err := os.UserCacheDir()
	require.NoError(t, err)

	matches, err := filepath.Glob(filepath.Join(cache, "cozylab", "bin", name, "*", name))
	require.NoError(t, err)
	require.NotEmpty(t, matches, "%s is not in the binaries cache: run `go run mage.go bins`", name)

	return matches[len(matches)-1]
}

// failingOnce is an etcd whose first start exits at once, as a joining etcd does when the
// cluster does not answer it in time ("discovery failed" on a starved host); later starts are
// etcd itself. The node must start it again, or its learner never syncs.
func failingOnce(t *testing.T, etcd string) string {
	t.Helper()

	dir := t.TempDir()
	script := fmt.Sprintf(`#!/bin/sh
if [ ! -e %[1]q ]; then
	: > %[1]q
	echo '{"level":"fatal","msg":"discovery failed"}' >&2
	exit 1
fi
exec %[2]q "$@"
`, filepath.Join(dir, "failed-once"), etcd)
	path := filepath.Join(dir, "etcd")
	require.NoError(t, os.WriteFile(path, []byte(script), 0o755))

	return path
}

type processCluster struct {
	configs [][]byte
	addrs   []string // Talos API endpoints
	res     *machineconfig.Result
}

// startProcessCluster generates three control-plane configs for 127.0.0.11-13 with the VIP
// 127.0.0.10 and serves a twin backed by a ProcessNode for each, in maintenance mode.
func startProcessCluster(t *testing.T) processCluster {
	t.Helper()

	etcd, apiserver := cachedBinary(t, "etcd"), cachedBinary(t, "kube-apiserver")

	bundle, err := machineconfig.LoadOrCreateSecrets(filepath.Join(t.TempDir(), "secrets.yaml"))
	require.NoError(t, err)

	var nodes []machineconfig.Node
	for i := 1; i <= 3; i++ {
		mac, err := net.ParseMAC(fmt.Sprintf("52:54:00:00:00:%02x", i))
		require.NoError(t, err)
		nodes = append(nodes, machineconfig.Node{
			Name: fmt.Sprintf("cp-%d", i), Address: netip.MustParsePrefix(fmt.Sprintf("127.0.0.%d/8", 10+i)), MAC: mac,
		})
	}

	res, err := machineconfig.Generate(machineconfig.Options{
		ClusterName: "twin", VIP: netip.MustParseAddr("127.0.0.10"), Nodes: nodes,
	}, bundle)
	require.NoError(t, err)

	pc := processCluster{res: res}

	for _, n := range nodes {
		addr := net.IP(n.Address.Addr().AsSlice())
		etcdPath := etcd
		if n.Name == "cp-3" {
			etcdPath = failingOnce(t, etcd)
		}
		node, err := twin.NewProcessNode(twin.ProcessOptions{
			Hostname: n.Name, Address: addr, StateDir: t.TempDir(),
			EtcdPath: etcdPath, APIServerPath: apiserver, JoinInterval: time.Second,
		})
		require.NoError(t, err)
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			assert.NoError(t, node.Close(ctx))
		})

		tw, err := twin.New(node, twin.Options{Addresses: []net.IP{addr}})
		require.NoError(t, err)

		lis, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
		require.NoError(t, err)

		done := make(chan error, 1)
		go func() { done <- tw.Serve(lis) }()
		t.Cleanup(func() { tw.Stop(); assert.NoError(t, <-done) })

		pc.addrs = append(pc.addrs, lis.Addr().String())
	}

	for _, nc := range res.Nodes {
		pc.configs = append(pc.configs, nc.Config)
	}

	return pc
}

func TestProcessNodesFormCluster(t *testing.T) {
	pc := startProcessCluster(t)
	ctx, cancel := context.WithTimeout(t.Context(), 4*time.Minute)
	defer cancel()

	var clients []*client.Client
	for i, addr := range pc.addrs {
		require.NoError(t, flows.ApplyInsecure(ctx, addr, pc.configs[i], processPoll, nil))
		clients = append(clients, secureClient(t, pc.res.Talosconfig, addr))
	}

	timing := flows.BootstrapTiming{Ready: processPoll, Retry: flows.BootstrapPoll}
	require.NoError(t, flows.Bootstrap(ctx, "cp-1", clients[0], timing, nil))

	checks := flows.ServicesHealthy("cp-1", clients[0], "etcd", "kube-apiserver")
	for i, c := range clients {
		checks = append(checks, flows.ServiceHealthy(fmt.Sprintf("cp-%d", i+1), c, "etcd"), flows.EtcdMembers(c, 3))
	}
	require.NoError(t, condition.WaitAll(ctx, checks, processPoll, nil))

	assert.Contains(t, string(readLog(ctx, t, clients[2], "etcd")), "discovery failed",
		"cp-3's etcd log still says why its first start ended")

	kubeconfig, err := flows.Kubeconfig(ctx, "cp-1", clients[0], processPoll, nil)
	require.NoError(t, err)

	rest, err := clientcmd.RESTConfigFromKubeConfig(kubeconfig)
	require.NoError(t, err)
	assert.Equal(t, "https://127.0.0.10:6443", rest.Host, "the kubeconfig points at the VIP")

	cs, err := kubernetes.NewForConfig(rest)
	require.NoError(t, err)

	namespaces, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.NotEmpty(t, namespaces.Items)

	// The front proxy, as on Talos: the API server publishes the config's aggregator CA for
	// aggregated API servers (and the controller manager and scheduler) to trust.
	cfg, _, err := machineconfig.ValidateBytes(pc.configs[0])
	require.NoError(t, err)
	var auth map[string]string
	published := condition.Condition{Name: "extension-apiserver-authentication names the front proxy", Check: func(ctx context.Context) error {
		cm, err := cs.CoreV1().ConfigMaps("kube-system").Get(ctx, "extension-apiserver-authentication", metav1.GetOptions{})
		if err != nil {
			return err
		}
		if auth = cm.Data; auth["requestheader-client-ca-file"] == "" {
			return errors.New("no requestheader-client-ca-file yet")
		}
		return nil
	}}
	require.NoError(t, condition.Wait(ctx, published, processPoll, nil))
	assert.Equal(t, string(cfg.Cluster().AggregatorCA().Crt), auth["requestheader-client-ca-file"])
	assert.Equal(t, `["front-proxy-client"]`, auth["requestheader-allowed-names"])

	first, err := clients[0].ServiceList(ctx)
	require.NoError(t, err)
	states := map[string]string{}
	for _, s := range first.Messages[0].Services {
		states[s.Id] = s.State
	}
	assert.Equal(t, map[string]string{"etcd": "Running", "kube-apiserver": "Running"}, states)

	log := readLog(ctx, t, clients[0], "kube-apiserver")
	assert.NotEmpty(t, log, "the Logs call serves kube-apiserver's output")

	// A joined control plane starts its own API server once it is an etcd voter and the
	// cluster's API server is ready, as a Talos control plane does. (On this shared loopback
	// its port is the bootstrap node's, so only its start is asserted, not its health.)
	var ids []string
	started := condition.Condition{Name: "cp-2 lists kube-apiserver", Check: func(ctx context.Context) error {
		resp, err := clients[1].ServiceList(ctx)
		if err != nil {
			return err
		}
		if host := resp.Messages[0].Metadata.Hostname; host != "cp-2" {
			return condition.Permanent(fmt.Errorf("answered by %s, not cp-2", host))
		}
		ids = nil
		for _, s := range resp.Messages[0].Services {
			ids = append(ids, s.Id)
		}
		if !slices.Contains(ids, "kube-apiserver") {
			return fmt.Errorf("services %v", ids)
		}
		return nil
	}}
	require.NoError(t, condition.Wait(ctx, started, processPoll, nil))
	assert.Equal(t, []string{"etcd", "kube-apiserver"}, ids, "a joined control plane runs kube-apiserver too")
}

// readLog reads service id's log through the Logs call.
func readLog(ctx context.Context, t *testing.T, c *client.Client, id string) []byte {
	t.Helper()

	stream, err := c.Logs(ctx, "", common.ContainerDriver_CONTAINERD, id, false, -1)
	require.NoError(t, err)

	var log []byte

	for {
		msg, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return log
		}

		require.NoError(t, err)

		log = append(log, msg.Bytes...)
	}
}
