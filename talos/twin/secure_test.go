package twin_test

import (
	"crypto/tls"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/cozylab/cozylab/talos/twin"
)

// configuredTwin serves a twin that already holds the cluster's config.
func configuredTwin(t *testing.T) (cluster, *twin.MemoryNode, *client.Client) {
	t.Helper()

	cl := newCluster(t)
	node := twin.NewMemoryNode("cp-1")
	_, addr := startTwin(t, node, cl.Config)

	return cl, node, secureClient(t, cl.Talosconfig, addr)
}

func TestSecureVersion(t *testing.T) {
	_, _, c := configuredTwin(t)

	v, err := c.Version(callCtx(t))
	require.NoError(t, err)
	assert.Equal(t, twin.DefaultTag, v.Messages[0].Version.Tag)
	assert.Equal(t, "cp-1", v.Messages[0].Metadata.Hostname)
}

func TestWrongCAFailsHandshake(t *testing.T) {
	other := newCluster(t) // another bundle, another OS CA

	cl := newCluster(t)
	_, addr := startTwin(t, twin.NewMemoryNode("cp-1"), cl.Config)

	_, err := secureClient(t, other.Talosconfig, addr).Version(callCtx(t))
	requireCode(t, codes.Unavailable, err)
	assert.Contains(t, err.Error(), "certificate signed by unknown authority")
}

func TestInsecureClientRejectedWhenConfigured(t *testing.T) {
	cl := newCluster(t)
	_, addr := startTwin(t, twin.NewMemoryNode("cp-1"), cl.Config)

	_, err := insecureClient(t, addr).Version(callCtx(t))
	requireRefusedByServer(t, err, "certificate required")
}

func TestServiceListReportsNode(t *testing.T) {
	_, node, c := configuredTwin(t)
	node.SetServices(
		twin.Service{ID: "apid", State: "Running", Healthy: true},
		twin.Service{ID: "etcd", State: "Preparing", HealthUnknown: true},
	)

	resp, err := c.ServiceList(callCtx(t))
	require.NoError(t, err)

	got := map[string]*machine.ServiceInfo{}
	for _, s := range resp.Messages[0].Services {
		got[s.Id] = s
	}

	require.Len(t, got, 2)
	assert.Equal(t, "Running", got["apid"].State)
	assert.True(t, got["apid"].Health.Healthy)
	assert.Equal(t, "Preparing", got["etcd"].State)
	assert.True(t, got["etcd"].Health.Unknown)
}

func TestBootstrapOnce(t *testing.T) {
	_, node, c := configuredTwin(t)
	ctx := callCtx(t)

	err := c.Bootstrap(ctx, &machine.BootstrapRequest{})
	requireCode(t, codes.FailedPrecondition, err)
	assert.Contains(t, err.Error(), "etcd service is not running")

	node.SetServices(twin.Service{ID: "etcd", State: "Preparing"})
	require.NoError(t, c.Bootstrap(ctx, &machine.BootstrapRequest{}))

	err = c.Bootstrap(ctx, &machine.BootstrapRequest{})
	requireCode(t, codes.FailedPrecondition, err)
	assert.Contains(t, err.Error(), "already bootstrapped")

	bootstraps, _, _ := node.Counts()
	assert.Equal(t, 1, bootstraps)
}

func TestKubeconfig(t *testing.T) {
	_, node, c := configuredTwin(t)
	ctx := callCtx(t)

	_, err := c.Kubeconfig(ctx)
	requireCode(t, codes.FailedPrecondition, err)

	// Larger than one stream chunk, so reassembly is exercised.
	want := []byte("apiVersion: v1\nkind: Config\n")
	for len(want) < 100*1024 {
		want = append(want, "# padding to span several stream messages\n"...)
	}

	node.SetKubeconfig(want)

	got, err := c.Kubeconfig(ctx)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestEtcdMemberList(t *testing.T) {
	_, node, c := configuredTwin(t)
	ctx := callCtx(t)

	_, err := c.EtcdMemberList(ctx, &machine.EtcdMemberListRequest{})
	requireCode(t, codes.FailedPrecondition, err)

	node.SetEtcdMembers(
		twin.EtcdMember{ID: 1, Hostname: "cp-1", PeerURLs: []string{"https://10.5.0.11:2380"}},
		twin.EtcdMember{ID: 2, Hostname: "cp-2", IsLearner: true},
	)

	resp, err := c.EtcdMemberList(ctx, &machine.EtcdMemberListRequest{})
	require.NoError(t, err)

	members := resp.Messages[0].Members
	require.Len(t, members, 2)
	assert.Equal(t, "cp-1", members[0].Hostname)
	assert.Equal(t, []string{"https://10.5.0.11:2380"}, members[0].PeerUrls)
	assert.True(t, members[1].IsLearner)
}

func TestRebootAndShutdown(t *testing.T) {
	_, node, c := configuredTwin(t)
	ctx := callCtx(t)

	require.NoError(t, c.Reboot(ctx))
	require.NoError(t, c.Shutdown(ctx, client.WithShutdownForce(true)))

	_, reboots, shutdowns := node.Counts()
	assert.Equal(t, 1, reboots)
	assert.Equal(t, 1, shutdowns)
}

func TestServerRejectsClientCertFromAnotherCA(t *testing.T) {
	cl := newCluster(t)
	other := newCluster(t)
	_, addr := startTwin(t, twin.NewMemoryNode("cp-1"), cl.Config)

	// The client trusts any server, so only the twin's check of the client certificate can fail.
	c, err := client.New(t.Context(), client.WithEndpoints(addr), client.WithTLSConfig(&tls.Config{
		InsecureSkipVerify: true, //nolint:gosec // isolates the server-side check
		Certificates:       []tls.Certificate{clientCertificate(t, other.Talosconfig)},
	}))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, c.Close()) })

	_, err = c.Version(callCtx(t))
	requireRefusedByServer(t, err, "unknown certificate authority")
}

func TestApplyWhenConfigured(t *testing.T) {
	cl, node, c := configuredTwin(t)
	ctx := callCtx(t)

	resp, err := c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{
		Data: cl.Config, Mode: machine.ApplyConfigurationRequest_REBOOT, DryRun: true,
	})
	require.NoError(t, err)
	assert.Contains(t, resp.Messages[0].ModeDetails, "Dry run")

	_, reboots, _ := node.Counts()
	assert.Equal(t, 0, reboots, "a dry run changes nothing")

	_, err = c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: cl.Config, Mode: machine.ApplyConfigurationRequest_REBOOT})
	require.NoError(t, err)

	_, reboots, _ = node.Counts()
	assert.Equal(t, 1, reboots, "reboot mode reboots the node")

	_, err = c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: cl.Config, Mode: machine.ApplyConfigurationRequest_TRY})
	requireCode(t, codes.InvalidArgument, err)
}
