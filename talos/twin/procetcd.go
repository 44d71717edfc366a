package twin

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// etcdReadyTimeout bounds the wait for a freshly bootstrapped etcd to become healthy before
// kube-apiserver starts; a TCG guest needs seconds, not minutes.
const etcdReadyTimeout = 2 * time.Minute

// Bootstrap implements Node: it stops trying to join, takes the VIP, starts etcd as a new
// single-member cluster and returns; kube-apiserver follows once etcd is healthy. Progress and
// failures show in Services, as they do on Talos.
func (n *ProcessNode) Bootstrap(ctx context.Context) error {
	n.mu.Lock()
	configured := n.cfg != nil
	n.mu.Unlock()

	if !configured {
		return fmt.Errorf("bootstrap etcd: the node has no config: %w", ErrNotReady)
	}

	n.stopJoin()

	n.mu.Lock()
	defer n.mu.Unlock()

	if n.etcd != nil {
		return errors.New("bootstrap etcd: etcd already runs on this node: it joined an existing cluster")
	}

	var extra []net.IP

	if vip := n.facts.vip; vip.IsValid() && !vip.Is6() && !net.IP(vip.AsSlice()).Equal(n.opts.Address) {
		if n.opts.HoldVIP != nil {
			if err := n.opts.HoldVIP(ctx, vip); err != nil {
				return fmt.Errorf("bootstrap etcd: hold VIP %s: %w", vip, err)
			}
		}

		extra = append(extra, net.IP(vip.AsSlice()))
	}

	if err := n.etcdPKILocked(); err != nil {
		return fmt.Errorf("bootstrap etcd: %w", err)
	}

	initial := n.opts.Hostname + "=" + httpsURL(n.opts.Address, etcdPeerPort)
	if err := n.startEtcdLocked(extra, initial, "new"); err != nil {
		return fmt.Errorf("bootstrap etcd: %w", err)
	}

	n.log("etcd: bootstrapped a new cluster as %s", n.opts.Hostname)

	go n.startAPIServer(n.ctx)

	return nil
}

// etcdPKILocked writes etcd's certificates once and builds the gateway client.
func (n *ProcessNode) etcdPKILocked() error {
	if n.gateway != nil {
		return nil
	}

	tlsCfg, err := writeEtcdPKI(n.cfg, n.layout, n.opts.Hostname, n.opts.Address, n.facts)
	if err != nil {
		return err
	}

	n.gateway = newEtcdGateway(tlsCfg)

	return nil
}

func (n *ProcessNode) startEtcdLocked(extraListen []net.IP, initialCluster, state string) error {
	if n.stopped {
		return errors.New("start etcd: the node is shutting down")
	}

	args := etcdArgs(n.layout, n.opts.Hostname, n.opts.Address, extraListen, initialCluster, state)
	// The config's cluster.etcd.extraArgs come last: etcd takes the last of a repeated flag.
	args = append(args, extraArgs(nil, n.cfg.Cluster().Etcd().ExtraArgs())...)

	// The log is appended to: after a start that failed it still says why.
	if err := os.MkdirAll(filepath.Dir(n.layout.log("etcd")), 0o700); err != nil {
		return fmt.Errorf("create etcd's log directory: %w", err)
	}

	c, err := startChild("etcd", n.opts.EtcdPath, args, n.layout.log("etcd"))
	if err != nil {
		return err
	}

	n.etcd = c

	return nil
}

// startJoinLocked starts the loop that joins the cluster's etcd; stopJoin ends it. It runs once
// per node: a stopped loop is not started again.
func (n *ProcessNode) startJoinLocked() {
	ctx, cancel := context.WithCancel(n.ctx)
	done := make(chan struct{})
	n.joinCancel, n.joinDone = cancel, done

	go func() {
		defer close(done)
		n.joinLoop(ctx)
	}()
}

func (n *ProcessNode) stopJoin() {
	n.mu.Lock()
	cancel, done := n.joinCancel, n.joinDone
	n.mu.Unlock()

	if cancel != nil {
		cancel()
		<-done
	}
}

// joinLoop tries to join until it succeeds or the node bootstraps or stops. It is the node's
// standing behaviour, not a wait: it has no deadline, like Talos's etcd service.
func (n *ProcessNode) joinLoop(ctx context.Context) {
	ticker := time.NewTicker(n.opts.JoinInterval)
	defer ticker.Stop()

	joined := false

	for {
		var err error
		// etcd exits when it cannot reach the cluster in time as it starts (a starved leader:
		// "discovery failed"), which leaves a learner that never syncs: start it again.
		if how, ok := n.etcdExitedBeforePromotion(joined); ok {
			joined = false
			n.log("etcd: %s before it was promoted: joining again", how)
		}

		if !joined {
			if err = n.tryJoin(ctx); err == nil {
				joined = true
			}
		}

		if joined {
			if err = n.tryPromote(ctx); err == nil {
				n.mu.Lock()
				n.joinErr = nil
				n.mu.Unlock()
				n.log("etcd: promoted to a voting member")

				// A Talos control plane runs its own API server once it is an etcd member.
				go n.startJoinedAPIServer(n.ctx)

				return
			}

			err = fmt.Errorf("promote: %w", err)
		}

		n.mu.Lock()
		changed := n.joinErr == nil || n.joinErr.Error() != err.Error()
		n.joinErr = err
		n.mu.Unlock()

		if changed && ctx.Err() == nil {
			n.log("etcd: waiting to join: %v", err)
		}

		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// etcdExitedBeforePromotion reports, once, that this node's etcd, started to join, has exited,
// and how; the node then has no etcd until it joins again (its log keeps why).
func (n *ProcessNode) etcdExitedBeforePromotion(joined bool) (how string, exited bool) {
	if !joined {
		return "", false
	}

	n.mu.Lock()
	defer n.mu.Unlock()

	if n.etcd == nil {
		return "", false
	}

	done, err := n.etcd.exited()
	if !done {
		return "", false
	}

	n.etcd = nil

	return describeExit(nil, err), true
}

// tryPromote promotes this node's learner through one of the join endpoints.
func (n *ProcessNode) tryPromote(ctx context.Context) error {
	n.mu.Lock()
	gw, facts := n.gateway, n.facts
	n.mu.Unlock()

	peerURL := httpsURL(n.opts.Address, etcdPeerPort)

	var errs []error

	for _, ep := range n.joinEndpoints(facts) {
		err := n.promote(ctx, gw, ep, peerURL)
		if err == nil {
			return nil
		}

		errs = append(errs, err)
	}

	return errors.Join(errs...)
}

// tryJoin adds this node to the cluster through one of the join endpoints and starts etcd.
func (n *ProcessNode) tryJoin(ctx context.Context) error {
	n.mu.Lock()
	err := n.etcdPKILocked()
	gw, facts := n.gateway, n.facts
	n.mu.Unlock()

	if err != nil {
		return err
	}

	peerURL := httpsURL(n.opts.Address, etcdPeerPort)

	var errs []error

	for _, ep := range n.joinEndpoints(facts) {
		initial, err := n.joinThrough(ctx, gw, ep, peerURL)
		if err != nil {
			errs = append(errs, err)

			continue
		}

		n.mu.Lock()
		defer n.mu.Unlock()

		if ctx.Err() != nil {
			return fmt.Errorf("join etcd: %w", ctx.Err())
		}

		if err := n.startEtcdLocked(nil, initial, "existing"); err != nil {
			return err
		}

		n.log("etcd: joined the cluster through %s", ep)

		return nil
	}

	return fmt.Errorf("join etcd: %w", errors.Join(errs...))
}

// joinThrough makes sure this node is a member, as seen by the etcd at ep, and returns the
// --initial-cluster to start with. It refuses while another member has not started, since
// that member's name is still unknown and etcd checks the initial cluster against its list.
func (n *ProcessNode) joinThrough(ctx context.Context, gw *etcdGateway, ep, peerURL string) (string, error) {
	url := "https://" + ep

	members, err := gw.memberList(ctx, url)
	if err != nil {
		return "", err
	}

	for _, m := range members {
		if !hasPeer([]gatewayMember{m}, peerURL) && (m.Name == "" || m.IsLearner) {
			return "", fmt.Errorf("etcd member %x (%s) is still joining", uint64(m.ID), strings.Join(m.PeerURLs, ","))
		}
	}

	// A node that lost its etcd data (a twin keeps it in memory, so every reboot) but is still
	// a started member would be sent a log it no longer has, and etcd panics on that: it leaves
	// the cluster first and joins again as a new learner.
	if stale, ok := startedMember(members, peerURL); ok && !n.hasEtcdData() {
		if err := gw.memberRemove(ctx, url, uint64(stale.ID)); err != nil {
			return "", err
		}

		n.log("etcd: removed this node's former member %x (its data is gone) to join again", uint64(stale.ID))

		if members, err = gw.memberList(ctx, url); err != nil {
			return "", err
		}
	}

	if !hasPeer(members, peerURL) {
		if members, err = gw.memberAdd(ctx, url, peerURL); err != nil {
			return "", err
		}
	}

	parts := make([]string, 0, len(members))

	for _, m := range members {
		name := m.Name
		if hasPeer([]gatewayMember{m}, peerURL) {
			name = n.opts.Hostname
		} else if name == "" {
			return "", fmt.Errorf("etcd member %x (%s) has not started yet", uint64(m.ID), strings.Join(m.PeerURLs, ","))
		}

		for _, u := range m.PeerURLs {
			parts = append(parts, name+"="+u)
		}
	}

	return strings.Join(parts, ","), nil
}

// promote makes this node's learner a voting member through the etcd at ep; a node that is
// already voting is done.
func (n *ProcessNode) promote(ctx context.Context, gw *etcdGateway, ep, peerURL string) error {
	url := "https://" + ep

	members, err := gw.memberList(ctx, url)
	if err != nil {
		return err
	}

	for _, m := range members {
		if hasPeer([]gatewayMember{m}, peerURL) {
			if !m.IsLearner {
				return nil
			}

			return gw.memberPromote(ctx, url, uint64(m.ID))
		}
	}

	return fmt.Errorf("etcd at %s does not list %s", url, peerURL)
}

// startedMember is the member with peerURL, when it has started once (it has a name).
func startedMember(members []gatewayMember, peerURL string) (gatewayMember, bool) {
	for _, m := range members {
		if m.Name != "" && hasPeer([]gatewayMember{m}, peerURL) {
			return m, true
		}
	}

	return gatewayMember{}, false
}

// hasEtcdData says whether this node's etcd data directory holds a member.
func (n *ProcessNode) hasEtcdData() bool {
	_, err := os.Stat(filepath.Join(n.layout.etcdData(), "member"))

	return err == nil
}

func hasPeer(members []gatewayMember, peerURL string) bool {
	for _, m := range members {
		for _, u := range m.PeerURLs {
			if u == peerURL {
				return true
			}
		}
	}

	return false
}

// joinEndpoints are the host:port etcd endpoints to join through.
func (n *ProcessNode) joinEndpoints(f clusterFacts) []string {
	eps := n.opts.JoinEndpoints
	if len(eps) == 0 {
		eps = []string{f.endpointHost}
	}

	out := make([]string, 0, len(eps))

	for _, ep := range eps {
		if _, _, err := net.SplitHostPort(ep); err != nil {
			if a, err := netip.ParseAddr(ep); err == nil {
				ep = netip.AddrPortFrom(a, etcdClientPort).String()
			} else {
				ep = net.JoinHostPort(ep, strconv.Itoa(etcdClientPort))
			}
		}

		out = append(out, ep)
	}

	return out
}
