package flows

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"

	"github.com/cozylab/cozylab/internal/condition"
)

// APIReady holds when the node's Talos API answers Version: the cheapest sign of life.
func APIReady(node string, c *client.Client) condition.Condition {
	return condition.Condition{
		Name: fmt.Sprintf("Talos API on %s answers", node),
		Check: func(ctx context.Context) error {
			_, err := c.Version(ctx)

			return err
		},
	}
}

// ServiceRegistered holds when the node lists service id, in any state. Before bootstrap etcd
// is listed as Preparing: the node is up and waiting for Bootstrap.
func ServiceRegistered(node string, c *client.Client, id string) condition.Condition {
	return condition.Condition{
		Name: fmt.Sprintf("service %s is registered on %s", id, node),
		Check: func(ctx context.Context) error {
			_, err := findService(ctx, c, id)

			return err
		},
	}
}

// ServiceHealthy holds when service id runs and its last health check passed.
func ServiceHealthy(node string, c *client.Client, id string) condition.Condition {
	return condition.Condition{
		Name: fmt.Sprintf("service %s is healthy on %s", id, node),
		Check: func(ctx context.Context) error {
			s, err := findService(ctx, c, id)
			if err != nil {
				return err
			}

			switch {
			case s.GetState() != "Running":
				return fmt.Errorf("service %s is %s", id, s.GetState())
			case s.GetHealth().GetUnknown():
				return fmt.Errorf("service %s health is not known yet", id)
			case !s.GetHealth().GetHealthy():
				return fmt.Errorf("service %s is unhealthy: %s", id, s.GetHealth().GetLastMessage())
			}

			return nil
		},
	}
}

// ServicesHealthy is one ServiceHealthy condition per service, to wait for in order.
func ServicesHealthy(node string, c *client.Client, ids ...string) []condition.Condition {
	out := make([]condition.Condition, 0, len(ids))
	for _, id := range ids {
		out = append(out, ServiceHealthy(node, c, id))
	}

	return out
}

func findService(ctx context.Context, c *client.Client, id string) (*machine.ServiceInfo, error) {
	resp, err := c.ServiceList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}

	for _, msg := range resp.GetMessages() {
		for _, s := range msg.GetServices() {
			if s.GetId() == id {
				return s, nil
			}
		}
	}

	return nil, fmt.Errorf("service %s is not listed", id)
}

// EtcdMembers holds when etcd, as seen through c, has exactly n voting members. Learners do not
// count: a learner cannot vote, so the cluster is not yet as resilient as n members make it.
func EtcdMembers(c *client.Client, n int) condition.Condition {
	return condition.Condition{
		Name: fmt.Sprintf("etcd has %d members", n),
		Check: func(ctx context.Context) error {
			names, err := etcdVoters(ctx, c)
			if err != nil {
				return err
			}

			if len(names) != n {
				return fmt.Errorf("etcd has %d members (%s)", len(names), strings.Join(names, ", "))
			}

			return nil
		},
	}
}

// etcdVoters lists the hostnames of etcd's voting members, sorted.
func etcdVoters(ctx context.Context, c *client.Client) ([]string, error) {
	resp, err := c.EtcdMemberList(ctx, &machine.EtcdMemberListRequest{})
	if err != nil {
		return nil, fmt.Errorf("list etcd members: %w", err)
	}

	var names []string

	for _, msg := range resp.GetMessages() {
		for _, m := range msg.GetMembers() {
			if !m.GetIsLearner() {
				names = append(names, m.GetHostname())
			}
		}
	}

	slices.Sort(names)

	return names, nil
}
