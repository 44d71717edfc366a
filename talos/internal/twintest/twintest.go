// Package twintest starts twins on loopback for tests of the twin and of the flows that drive
// it, with configs generated the way the lab generates them.
package twintest

import (
	"context"
	"crypto/tls"
	"net"
	"net/netip"
	"path/filepath"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/talos/machineconfig"
	"github.com/cozylab/cozylab/talos/twin"
)

// Cluster is a generated one-node cluster whose node lives on 127.0.0.1.
type Cluster struct {
	// Config is the node's machine config.
	Config []byte
	// Talosconfig is the cluster's admin client config.
	Talosconfig *clientconfig.Config
}

// NewCluster generates a cluster with a fresh secrets bundle, so two clusters never trust each other.
func NewCluster(t *testing.T) Cluster {
	t.Helper()

	bundle, err := machineconfig.LoadOrCreateSecrets(filepath.Join(t.TempDir(), "secrets.yaml"))
	require.NoError(t, err)

	mac, err := net.ParseMAC("52:54:00:00:00:01")
	require.NoError(t, err)

	res, err := machineconfig.Generate(machineconfig.Options{
		ClusterName: "twin",
		VIP:         netip.MustParseAddr("127.0.0.100"),
		Nodes:       []machineconfig.Node{{Name: "cp-1", Address: netip.MustParsePrefix("127.0.0.1/8"), MAC: mac}},
	}, bundle)
	require.NoError(t, err)

	return Cluster{Config: res.Nodes[0].Config, Talosconfig: res.Talosconfig}
}

// Start serves a twin for node on a free loopback port until the test ends, and returns it with
// its address. A nil cfg starts it in maintenance mode.
func Start(t *testing.T, node twin.Node, cfg []byte) (*twin.Twin, string) {
	t.Helper()

	tw, err := twin.New(node, twin.Options{Addresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Config: cfg})
	require.NoError(t, err)

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)

	done := make(chan error, 1)

	go func() { done <- tw.Serve(lis) }()

	t.Cleanup(func() {
		tw.Stop()
		require.NoError(t, <-done)
	})

	return tw, lis.Addr().String()
}

// CallCtx bounds a test's calls so a broken twin fails the test instead of hanging it.
func CallCtx(t *testing.T) context.Context {
	t.Helper()

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)

	return ctx
}

// SecureClient is a machinery client using tc against addr, closed when the test ends.
func SecureClient(t *testing.T, tc *clientconfig.Config, addr string) *client.Client {
	t.Helper()

	c, err := client.New(t.Context(), client.WithConfig(tc), client.WithEndpoints(addr))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })

	return c
}

// InsecureClient is a maintenance-mode machinery client against addr, closed when the test ends.
func InsecureClient(t *testing.T, addr string) *client.Client {
	t.Helper()

	c, err := client.New(t.Context(), client.WithEndpoints(addr),
		client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // maintenance mode has no trust yet
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })

	return c
}
