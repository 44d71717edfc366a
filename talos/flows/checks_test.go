package flows_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/talos/flows"
	"github.com/cozylab/cozylab/talos/internal/twintest"
	"github.com/cozylab/cozylab/talos/twin"
)

// threeNodes starts three twins sharing one cluster config, each answering for its own node.
func threeNodes(t *testing.T) ([]*twin.MemoryNode, []flows.Node) {
	t.Helper()

	cl := twintest.NewCluster(t)

	var (
		mems  []*twin.MemoryNode
		nodes []flows.Node
	)

	for _, name := range []string{"cp-1", "cp-2", "cp-3"} {
		m := twin.NewMemoryNode(name)
		_, addr := twintest.Start(t, m, cl.Config)
		mems = append(mems, m)
		nodes = append(nodes, flows.Node{Name: name, Client: twintest.SecureClient(t, cl.Talosconfig, addr)})
	}

	return mems, nodes
}

func healthy(id string) twin.Service { return twin.Service{ID: id, State: "Running", Healthy: true} }

func members(names ...string) []twin.EtcdMember {
	out := make([]twin.EtcdMember, 0, len(names))
	for i, n := range names {
		out = append(out, twin.EtcdMember{ID: uint64(i + 1), Hostname: n})
	}

	return out
}

func TestControlPlaneChecks(t *testing.T) {
	mems, nodes := threeNodes(t)
	ctx := twintest.CallCtx(t)

	checks := flows.ControlPlaneChecks(nodes)

	var names []string
	for _, c := range checks {
		names = append(names, c.Name)
	}

	assert.Equal(t, []string{
		"service etcd is healthy on cp-1", "service etcd is healthy on cp-2", "service etcd is healthy on cp-3",
		"etcd has 3 members",
		"etcd members are consistent across nodes",
		"etcd members are control-plane nodes",
		"service apid is healthy on cp-1", "service apid is healthy on cp-2", "service apid is healthy on cp-3",
		"service kubelet is healthy on cp-1", "service kubelet is healthy on cp-2", "service kubelet is healthy on cp-3",
	}, names)

	for _, m := range mems {
		m.SetServices(healthy("etcd"), healthy("apid"), healthy("kubelet"))
		m.SetEtcdMembers(members("cp-1", "cp-2", "cp-3")...)
	}

	require.NoError(t, condition.WaitAll(ctx, checks, fast, nil))
}

func TestEtcdMembershipChecksFail(t *testing.T) {
	mems, nodes := threeNodes(t)
	ctx := twintest.CallCtx(t)

	mems[0].SetEtcdMembers(members("cp-1", "cp-2", "cp-3")...)
	mems[1].SetEtcdMembers(members("cp-1", "cp-2", "cp-3")...)
	mems[2].SetEtcdMembers(members("cp-1", "cp-3")...)

	err := flows.EtcdMembersConsistent(nodes).Check(ctx)
	require.Error(t, err)
	assert.Equal(t, "node cp-1 sees members [cp-1, cp-2, cp-3], node cp-3 sees [cp-1, cp-3]", err.Error())

	mems[0].SetEtcdMembers(members("cp-1", "old-cp")...)

	err = flows.EtcdMembersAreControlPlane(nodes).Check(ctx)
	require.Error(t, err)
	assert.Equal(t, "etcd member old-cp is not a control-plane node", err.Error())
}
