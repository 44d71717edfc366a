package local

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"path/filepath"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/controlplane"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/internal/subnet"
	"github.com/cozylab/cozylab/lab/images"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/lab/state"
)

// The real node's actions (not in a kwok-only lab, LAB_LOCAL_NODES=kwok).
const (
	ActionNodeNetwork = "Preparing the real node's network (namespace, link)"
	ActionImages      = "Building the lab's images (pause, CoreDNS, Flux)"
	ActionRealNode    = "Starting the real node (containerd, kubelet, kube-proxy)"
	ActionDNS         = "Starting CoreDNS"
	nodeDirName       = "node"
)

// ClusterDNS is the cluster DNS Service's address in the lab's service range (10.96.0.0/16),
// as kubeadm places it.
var ClusterDNS = netip.MustParseAddr("10.96.0.10")

func (l *lab) nodeDir() string { return filepath.Join(l.dir(), nodeDirName) }

// prepareNode plans the real node's network (once: the plan is kept in the lab's facts) and
// makes it, so its host address exists before the API server and registry listen on it.
func (l *lab) prepareNode(ctx context.Context, step progress.Step) error {
	f, err := l.facts()
	if err != nil {
		return err
	}
	if f.Node == nil {
		unlock, err := subnet.Lock(ctx) // until the link holds its address: no other lab takes it
		if err != nil {
			return err
		}
		defer unlock()
		sub, err := realnode.ChooseSubnet(l.store.Request().Name)
		if err != nil {
			return fmt.Errorf("%w (remove another lab with `LAB_NAME=<name> go run mage.go lab:down`)", err)
		}
		plan, err := realnode.NewPlan(l.store.Request().Name, sub)
		if err != nil {
			return err
		}
		// Recorded before anything exists, so a teardown after a crash finds it.
		if err := state.UpdateFacts(l.store, func(f *facts) { f.Node = &plan }); err != nil {
			return err
		}
		f.Node = &plan
	}
	step.Status("link %s: host %s, node %s, pods %s", f.Node.HostLink, f.Node.Host, f.Node.Node, f.Node.Pods)
	// The node goes with the daemon: once the processes are stopped (a later stop), its
	// containers, mounts and link are removed; the next up makes them again.
	plan := *f.Node
	l.stops = append(l.stops, func(context.Context) error { return realnode.Clean(l.nodeDir(), plan) })
	if err := realnode.Prepare(l.nodeDir(), plan); err != nil {
		return err
	}
	l.plan = &plan
	return nil
}

// buildImages pushes the images the real node runs (images.LabImages) to the lab registry.
func (l *lab) buildImages(ctx context.Context, _ progress.Step) error {
	_, err := images.Build(ctx, images.Options{Registry: l.reg.Addr(), RepoRoot: l.store.Request().RepoRoot,
		Names: images.LabImages(), Cache: l.cache, Progress: l.rep})
	return err
}

// startRealNode starts containerd, the kubelet and kube-proxy in the node's namespace and waits
// for the node to be Ready; its first status line names what runs.
func (l *lab) startRealNode(ctx context.Context, step progress.Step) error {
	pause, err := images.Lookup(images.Pause)
	if err != nil {
		return err
	}
	c := l.cluster
	n, err := realnode.Start(ctx, realnode.Options{
		Plan: *l.plan, Dir: l.nodeDir(), Kubelet: l.paths[bincache.Kubelet], KubeProxy: l.paths[bincache.KubeProxy],
		APIServer: c.URL, CACertFile: c.CACertFile, CAKeyFile: c.CAKeyFile,
		Admin: c.RESTConfig(), APIServerKubeletUser: controlplane.KubeletClientUser,
		Registry: l.reg.Addr(), Mirrors: images.Hosts(), PauseImage: pause.Upstream,
		ClusterDNS: ClusterDNS, Start: c.StartProcess,
	}, step)
	if n != nil {
		// Before the control plane's stop: the pods' connections to the API server would hold
		// its shutdown until it is killed.
		// The rest (mounts, the link the API server serves on) is the network's stop, after
		// the control plane's.
		l.stops = append(l.stops, n.Stop)
	}
	if err != nil {
		return err
	}
	l.rep.Begin(fmt.Sprintf("Real node %s Ready at %s: containerd %s, kubelet %s", realnode.NodeName, l.plan.Node, n.ContainerdVersion, n.KubeletVersion)).Done(nil)
	return nil
}

// registryAddr is where the lab registry listens: on the real node's host address (the node
// pulls from it) or, in a kwok-only lab, on loopback.
func (l *lab) registryAddr() string {
	if l.plan == nil {
		return registry.DefaultAddr
	}
	return net.JoinHostPort(l.plan.Host.String(), "0")
}

// apiAddress is where the API server serves: the real node's host address, else loopback.
func (l *lab) apiAddress() netip.Addr {
	if l.plan == nil {
		return netip.Addr{}
	}
	return l.plan.Host
}
