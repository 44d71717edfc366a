package twin

import (
	"context"
	"errors"

	"github.com/siderolabs/talos/pkg/machinery/config"
)

// ErrNotReady is returned by a Node for something that is not running yet, such as etcd before
// bootstrap. The twin answers it with FailedPrecondition, the code clients retry on.
var ErrNotReady = errors.New("not ready")

// Node is the machine behind the twin: what really runs on it, and how to act on it.
type Node interface {
	// Hostname names the node in every response's metadata.
	Hostname() string
	// Configure is told about every accepted machine config, already validated.
	Configure(ctx context.Context, cfg config.Provider) error
	// Services lists the services that run, with their state and health.
	Services(ctx context.Context) ([]Service, error)
	// Bootstrap starts a new etcd cluster on this node.
	Bootstrap(ctx context.Context) error
	// EtcdMembers lists the members of the etcd cluster this node belongs to.
	EtcdMembers(ctx context.Context) ([]EtcdMember, error)
	// Kubeconfig returns an admin kubeconfig for the cluster.
	Kubeconfig(ctx context.Context) ([]byte, error)
	// Reboot restarts the machine; it may return before the reboot happens.
	Reboot(ctx context.Context) error
	// Shutdown powers the machine off; force skips draining Kubernetes.
	Shutdown(ctx context.Context, force bool) error
}

// Service is one service as ServiceList reports it.
type Service struct {
	// ID is the Talos service name: etcd, kubelet, apid, ...
	ID string
	// State is the Talos state name: Preparing, Running, Finished, Failed, ...
	State string
	// Healthy is the last health check result; meaningless when HealthUnknown.
	Healthy bool
	// HealthUnknown is true for services without a health check, or not yet checked.
	HealthUnknown bool
	// Message is the last health message.
	Message string
}

// EtcdMember is one etcd member as EtcdMemberList reports it.
type EtcdMember struct {
	ID         uint64
	Hostname   string
	PeerURLs   []string
	ClientURLs []string
	IsLearner  bool
}
