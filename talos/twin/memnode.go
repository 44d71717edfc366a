package twin

import (
	"context"
	"fmt"
	"slices"
	"sync"

	"github.com/siderolabs/talos/pkg/machinery/config"
)

// MemoryNode is a Node held in memory, whose state the caller sets. It backs tests and acts as
// the reference behaviour for real nodes: Bootstrap needs an etcd service, and etcd members and
// the kubeconfig are not ready until set.
type MemoryNode struct {
	mu         sync.Mutex
	hostname   string
	services   []Service
	members    []EtcdMember
	kubeconfig []byte
	config     config.Provider
	bootstraps int
	reboots    int
	shutdowns  int
}

var _ Node = (*MemoryNode)(nil)

// NewMemoryNode returns a node named hostname with nothing running.
func NewMemoryNode(hostname string) *MemoryNode {
	return &MemoryNode{hostname: hostname}
}

// SetServices replaces the services the node reports.
func (n *MemoryNode) SetServices(s ...Service) {
	n.mu.Lock()
	defer n.mu.Unlock()

	n.services = slices.Clone(s)
}

// SetEtcdMembers replaces the etcd members the node reports; none means etcd is not ready.
func (n *MemoryNode) SetEtcdMembers(m ...EtcdMember) {
	n.mu.Lock()
	defer n.mu.Unlock()

	n.members = slices.Clone(m)
}

// SetKubeconfig sets the kubeconfig the node serves; nil means Kubernetes is not ready.
func (n *MemoryNode) SetKubeconfig(b []byte) {
	n.mu.Lock()
	defer n.mu.Unlock()

	n.kubeconfig = slices.Clone(b)
}

// Counts reports how many times Bootstrap, Reboot and Shutdown succeeded.
func (n *MemoryNode) Counts() (bootstraps, reboots, shutdowns int) {
	n.mu.Lock()
	defer n.mu.Unlock()

	return n.bootstraps, n.reboots, n.shutdowns
}

// Config returns the last config passed to Configure, or nil.
func (n *MemoryNode) Config() config.Provider {
	n.mu.Lock()
	defer n.mu.Unlock()

	return n.config
}

// Hostname implements Node.
func (n *MemoryNode) Hostname() string { return n.hostname }

// Configure implements Node.
func (n *MemoryNode) Configure(_ context.Context, cfg config.Provider) error {
	n.mu.Lock()
	defer n.mu.Unlock()

	n.config = cfg

	return nil
}

// Services implements Node.
func (n *MemoryNode) Services(context.Context) ([]Service, error) {
	n.mu.Lock()
	defer n.mu.Unlock()

	return slices.Clone(n.services), nil
}

// Bootstrap implements Node; it fails with ErrNotReady unless an etcd service is listed.
func (n *MemoryNode) Bootstrap(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()

	if !slices.ContainsFunc(n.services, func(s Service) bool { return s.ID == "etcd" }) {
		return fmt.Errorf("bootstrap etcd: etcd service is not running: %w", ErrNotReady)
	}

	n.bootstraps++

	return nil
}

// EtcdMembers implements Node.
func (n *MemoryNode) EtcdMembers(context.Context) ([]EtcdMember, error) {
	n.mu.Lock()
	defer n.mu.Unlock()

	if len(n.members) == 0 {
		return nil, fmt.Errorf("list etcd members: %w", ErrNotReady)
	}

	return slices.Clone(n.members), nil
}

// Kubeconfig implements Node.
func (n *MemoryNode) Kubeconfig(context.Context) ([]byte, error) {
	n.mu.Lock()
	defer n.mu.Unlock()

	if n.kubeconfig == nil {
		return nil, fmt.Errorf("read kubeconfig: Kubernetes is not bootstrapped: %w", ErrNotReady)
	}

	return slices.Clone(n.kubeconfig), nil
}

// Reboot implements Node.
func (n *MemoryNode) Reboot(context.Context) error {
	n.mu.Lock()
	defer n.mu.Unlock()

	n.reboots++

	return nil
}

// Shutdown implements Node.
func (n *MemoryNode) Shutdown(context.Context, bool) error {
	n.mu.Lock()
	defer n.mu.Unlock()

	n.shutdowns++

	return nil
}
