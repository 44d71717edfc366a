package flows

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/client"

	"github.com/cozylab/cozylab/internal/condition"
)

// Node is a control-plane node and a client bound to it alone.
type Node struct {
	// Name is the node's hostname, as etcd knows it.
	Name string
	// Client talks to this node only (one endpoint, no node metadata).
	Client *client.Client
}

// ControlPlaneChecks are the Talos-side health checks of a control plane, in the order talosctl's
// default cluster checks run them (pkg/cluster/check/default.go), re-implemented on machinery:
// etcd healthy on every node, etcd has one member per node, members consistent across nodes and
// all of them control-plane nodes, then apid and kubelet healthy everywhere.
func ControlPlaneChecks(nodes []Node) []condition.Condition {
	var out []condition.Condition

	for _, n := range nodes {
		out = append(out, ServiceHealthy(n.Name, n.Client, "etcd"))
	}

	if len(nodes) > 0 {
		out = append(out, EtcdMembers(nodes[0].Client, len(nodes)))
	}

	out = append(out, EtcdMembersConsistent(nodes), EtcdMembersAreControlPlane(nodes))

	for _, id := range []string{"apid", "kubelet"} {
		for _, n := range nodes {
			out = append(out, ServiceHealthy(n.Name, n.Client, id))
		}
	}

	return out
}

// EtcdMembersConsistent holds when every node reports the same etcd voting members.
func EtcdMembersConsistent(nodes []Node) condition.Condition {
	return condition.Condition{
		Name: "etcd members are consistent across nodes",
		Check: func(ctx context.Context) error {
			var first []string

			for i, n := range nodes {
				members, err := etcdVoters(ctx, n.Client)
				if err != nil {
					return fmt.Errorf("node %s: %w", n.Name, err)
				}

				if i == 0 {
					first = members

					continue
				}

				if !slices.Equal(first, members) {
					return fmt.Errorf("node %s sees members [%s], node %s sees [%s]",
						nodes[0].Name, strings.Join(first, ", "), n.Name, strings.Join(members, ", "))
				}
			}

			return nil
		},
	}
}

// EtcdMembersAreControlPlane holds when every etcd voting member is one of nodes: a member
// that is not is a leftover of an earlier cluster and would hold quorum hostage.
func EtcdMembersAreControlPlane(nodes []Node) condition.Condition {
	return condition.Condition{
		Name: "etcd members are control-plane nodes",
		Check: func(ctx context.Context) error {
			if len(nodes) == 0 {
				return condition.Permanent(fmt.Errorf("no control-plane nodes given"))
			}

			members, err := etcdVoters(ctx, nodes[0].Client)
			if err != nil {
				return err
			}

			for _, m := range members {
				if !slices.ContainsFunc(nodes, func(n Node) bool { return n.Name == m }) {
					return fmt.Errorf("etcd member %s is not a control-plane node", m)
				}
			}

			return nil
		},
	}
}
