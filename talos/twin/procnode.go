package twin

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
)

// PowerAction is what the node was asked to do with the machine.
type PowerAction int

// The power actions a ProcessNode hands to ProcessOptions.Power.
const (
	PowerReboot PowerAction = iota
	PowerOff
)

// ProcessOptions configure a ProcessNode.
type ProcessOptions struct {
	// Hostname names the node and its etcd member.
	Hostname string
	// Address is the node's own address: etcd and the API server advertise it.
	Address net.IP
	// StateDir holds the config, certificates, etcd's data and the logs (logs/<service>.log).
	StateDir string
	// EtcdPath and APIServerPath are the etcd and kube-apiserver binaries.
	EtcdPath, APIServerPath string
	// JoinEndpoints are the etcd client endpoints ("host" or "host:port", port 2379 by default)
	// a node not bootstrapped joins the cluster through. Empty means the cluster endpoint's
	// host from the config: the VIP, which the bootstrap node holds and its etcd listens on.
	JoinEndpoints []string
	// JoinInterval is the pause between join attempts; 2 s when zero.
	JoinInterval time.Duration
	// HoldVIP, when set, is called on Bootstrap before etcd starts, with the cluster endpoint's
	// address, so the agent can add it to its NIC: the bootstrap node holds the VIP. Nil does
	// nothing (enough on loopback, where every 127/8 address is local).
	HoldVIP func(ctx context.Context, vip netip.Addr) error
	// Log, when set, hears the node's state changes (etcd bootstrapped or joined, kube-apiserver
	// started or failed), one line each; the agent prints them on the console.
	Log func(format string, args ...any)
	// Kube, when set, makes the node a Kubernetes node too (KubeOptions); without it the
	// node runs etcd and kube-apiserver only.
	Kube *KubeOptions
	// Power, when set, is called (on its own goroutine) after Reboot or Shutdown stopped every
	// process; the agent reboots or powers off the machine there.
	Power func(PowerAction)
}

// ProcessNode is a Node that runs real etcd and kube-apiserver processes. After a config is
// applied it keeps trying to join the cluster's etcd; Bootstrap instead starts a new
// single-member cluster, then kube-apiserver, as a Talos control plane does.
type ProcessNode struct {
	opts   ProcessOptions
	layout layout
	ctx    context.Context //nolint:containedctx // the node's lifetime, ended by Close
	cancel context.CancelFunc

	mu         sync.Mutex
	cfg        config.Provider
	facts      clusterFacts
	gateway    *etcdGateway
	admin      *tls.Config
	etcd       *child
	apiserver  *child
	joinCancel context.CancelFunc
	joinDone   chan struct{}
	joinErr    error // why the last join attempt failed
	apiErr     error // why kube-apiserver could not be started
	kube       map[string]*supervised
	kubeFacts  kubeFacts
	kubeErr    error // why the Kubernetes node could not be started
	prism      *kubePrism
	stopped    bool
}

var _ Node = (*ProcessNode)(nil)

// NewProcessNode returns a node with nothing running; Close stops what it started.
func NewProcessNode(opts ProcessOptions) (*ProcessNode, error) {
	switch {
	case opts.Hostname == "":
		return nil, errors.New("create process node: no hostname given")
	case opts.Address == nil:
		return nil, errors.New("create process node: no address given")
	case opts.StateDir == "" || opts.EtcdPath == "" || opts.APIServerPath == "":
		return nil, errors.New("create process node: the state dir, etcd path and kube-apiserver path are all required")
	}

	if opts.JoinInterval == 0 {
		opts.JoinInterval = 2 * time.Second
	}

	ctx, cancel := context.WithCancel(context.Background())

	return &ProcessNode{opts: opts, layout: layout{dir: opts.StateDir}, ctx: ctx, cancel: cancel}, nil
}

func (n *ProcessNode) log(format string, args ...any) {
	if n.opts.Log != nil {
		n.opts.Log(format, args...)
	}
}

// Hostname implements Node.
func (n *ProcessNode) Hostname() string { return n.opts.Hostname }

// LogPath is the file holding service id's output (etcd, kube-apiserver).
func (n *ProcessNode) LogPath(id string) string { return n.layout.log(id) }

// Configure implements Node: it stores the config in the state dir and, the first time, starts
// trying to join the cluster's etcd.
func (n *ProcessNode) Configure(_ context.Context, cfg config.Provider) error {
	facts, err := factsFromConfig(cfg)
	if err != nil {
		return err
	}

	data, err := cfg.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}

	if err := writeFiles(map[string][]byte{n.layout.config(): data}); err != nil {
		return err
	}

	n.mu.Lock()
	defer n.mu.Unlock()

	if n.stopped {
		return errors.New("configure node: the node is shutting down")
	}

	n.cfg, n.facts = cfg, facts

	if n.etcd == nil && n.joinCancel == nil {
		n.startJoinLocked()
	}

	if n.opts.Kube != nil && n.prism == nil {
		if kp := cfg.Machine().Features().KubePrism(); kp != nil && kp.Enabled() {
			endpoint := net.JoinHostPort(facts.endpointHost, cmp.Or(cfg.Cluster().Endpoint().Port(), fmt.Sprint(apiServerPort)))

			prism, err := startKubePrism(kp.Port(), []string{net.JoinHostPort("127.0.0.1", fmt.Sprint(apiServerPort)), endpoint})
			if err != nil {
				return err
			}

			n.prism = prism
			n.log("kubeprism: 127.0.0.1:%d → this node's API server, else %s", kp.Port(), endpoint)
		}
	}

	return nil
}

// Kubeconfig implements Node: an admin kubeconfig signed by the cluster CA, available once the
// node has a config, as on Talos.
func (n *ProcessNode) Kubeconfig(context.Context) ([]byte, error) {
	n.mu.Lock()
	cfg := n.cfg
	n.mu.Unlock()

	if cfg == nil {
		return nil, fmt.Errorf("read kubeconfig: the node has no config: %w", ErrNotReady)
	}

	return adminKubeconfig(cfg)
}

// EtcdMembers implements Node: the member list of the local etcd.
func (n *ProcessNode) EtcdMembers(ctx context.Context) ([]EtcdMember, error) {
	n.mu.Lock()
	running, gw := n.etcd != nil, n.gateway
	n.mu.Unlock()

	if !running {
		return nil, fmt.Errorf("list etcd members: etcd is not running: %w", ErrNotReady)
	}

	members, err := gw.memberList(ctx, httpsURL(n.opts.Address, etcdClientPort))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", err, ErrNotReady)
	}

	out := make([]EtcdMember, 0, len(members))
	for _, m := range members {
		out = append(out, EtcdMember{
			ID: uint64(m.ID), Hostname: m.Name, PeerURLs: m.PeerURLs, ClientURLs: m.ClientURLs, IsLearner: m.IsLearner,
		})
	}

	return out, nil
}

// Reboot implements Node: it stops every process, then hands the machine to Options.Power.
func (n *ProcessNode) Reboot(ctx context.Context) error { return n.power(ctx, PowerReboot) }

// Shutdown implements Node; there is no Kubernetes workload to drain, so force changes nothing.
func (n *ProcessNode) Shutdown(ctx context.Context, _ bool) error { return n.power(ctx, PowerOff) }

func (n *ProcessNode) power(ctx context.Context, action PowerAction) error {
	if err := n.Close(ctx); err != nil {
		return err
	}

	if n.opts.Power != nil {
		go n.opts.Power(action)
	}

	return nil
}

// Close stops the join loop, kube-apiserver and etcd, in that order; the node accepts nothing
// after it.
func (n *ProcessNode) Close(ctx context.Context) error {
	n.mu.Lock()
	n.stopped = true
	n.mu.Unlock()

	n.stopJoin()

	errs := []error{n.stopKube(ctx)}

	n.cancel()

	n.mu.Lock()
	apiserver, etcd, prism := n.apiserver, n.etcd, n.prism
	n.mu.Unlock()

	if prism != nil {
		errs = append(errs, prism.close())
	}

	for _, c := range []*child{apiserver, etcd} {
		if c != nil {
			errs = append(errs, c.stop(ctx))
		}
	}

	return errors.Join(errs...)
}
