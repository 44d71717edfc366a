package realnode

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/cozylab/cozylab/internal/subnet"
)

// nsfsMagic is the filesystem type of a namespace file (statfs(2)).
const nsfsMagic = 0x6e736673

// nodeLink is the node end of the veth pair, inside the namespace.
const nodeLink = "eth0"

// ChooseSubnet picks the node's /24: the one its host link already holds (an earlier Up whose
// state was lost), else the first /24 of subnet.Range that overlaps no address or route here.
func ChooseSubnet(lab string) (netip.Prefix, error) {
	link, err := netlink.LinkByName(LinkPrefix + shortName(lab))
	if err == nil {
		addrs, _ := netlink.AddrList(link, netlink.FAMILY_V4)
		for _, a := range addrs {
			if p, ok := subnet.PrefixOf(a.IPNet); ok && subnet.Range.Contains(p.Addr()) {
				return netip.PrefixFrom(p.Addr(), 24).Masked(), nil
			}
		}
	}
	h, err := netlink.NewHandle()
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("open netlink: %w", err)
	}
	defer h.Close()
	used, err := subnet.Used(h)
	if err != nil {
		return netip.Prefix{}, err
	}
	return subnet.FirstFree(subnet.Range, used)
}

// isNamespace reports whether path is a mounted namespace file.
func isNamespace(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == nsfsMagic
}

// ensureNamespace makes path a persistent network namespace (a bind mount of a new one), or
// keeps the one already mounted there.
func ensureNamespace(path string) error {
	if isNamespace(path) {
		return nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o600)
	if err != nil {
		return fmt.Errorf("create the node's namespace file: %w", err)
	}
	f.Close()
	done := make(chan error, 1)
	go func() {
		// The thread enters the new namespace and never leaves: it is not unlocked, so Go ends
		// it with this goroutine instead of reusing it.
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			done <- fmt.Errorf("create a network namespace: %w", err)
			return
		}
		self := fmt.Sprintf("/proc/%d/task/%d/ns/net", os.Getpid(), unix.Gettid())
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			done <- fmt.Errorf("keep the node's network namespace at %s: %w", path, err)
			return
		}
		done <- nil
	}()
	return <-done
}

// removeNamespace unmounts and removes the namespace file; a missing one is fine.
func removeNamespace(path string) error {
	if isNamespace(path) {
		if err := unix.Unmount(path, unix.MNT_DETACH); err != nil {
			return fmt.Errorf("unmount the node's network namespace %s: %w", path, err)
		}
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

// setUpNetwork joins the namespace at nsPath to the host as p says: the veth pair with its
// addresses, the host's route to the pods, the node's default route to the host. It is
// idempotent: what exists already is kept.
func setUpNetwork(p Plan, nsPath string) (err error) {
	ns, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("open the node's network namespace: %w", err)
	}
	defer ns.Close()
	inNS, err := netlink.NewHandleAt(ns)
	if err != nil {
		return fmt.Errorf("open netlink in the node's namespace: %w", err)
	}
	defer inNS.Close()
	hostEnd, nodeEnd := p.uplink()

	host, err := netlink.LinkByName(p.HostLink)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if !errors.As(err, &nf) {
			return fmt.Errorf("look up link %s: %w", p.HostLink, err)
		}
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: p.HostLink}, PeerName: nodeLink, PeerNamespace: netlink.NsFd(int(ns))}
		if err := netlink.LinkAdd(veth); err != nil {
			return fmt.Errorf("create veth %s (the real node's link): %w", p.HostLink, err)
		}
		if host, err = netlink.LinkByName(p.HostLink); err != nil {
			return fmt.Errorf("look up link %s: %w", p.HostLink, err)
		}
	}
	if err := netlink.AddrReplace(host, &netlink.Addr{IPNet: subnet.IPNet(hostEnd)}); err != nil {
		return fmt.Errorf("address %s on %s: %w", hostEnd, p.HostLink, err)
	}
	if err := netlink.LinkSetUp(host); err != nil {
		return fmt.Errorf("set %s up: %w", p.HostLink, err)
	}

	lo, err := inNS.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("the node's loopback: %w", err)
	}
	if err := inNS.LinkSetUp(lo); err != nil {
		return fmt.Errorf("set the node's loopback up: %w", err)
	}
	node, err := inNS.LinkByName(nodeLink)
	if err != nil {
		return fmt.Errorf("the node's link %s (remove the lab's host link %s and retry): %w", nodeLink, p.HostLink, err)
	}
	if err := inNS.AddrReplace(node, &netlink.Addr{IPNet: subnet.IPNet(nodeEnd)}); err != nil {
		return fmt.Errorf("address %s on the node: %w", nodeEnd, err)
	}
	if err := inNS.LinkSetUp(node); err != nil {
		return fmt.Errorf("set the node's link up: %w", err)
	}
	if err := inNS.RouteReplace(&netlink.Route{LinkIndex: node.Attrs().Index, Gw: net.IP(p.Host.AsSlice())}); err != nil {
		return fmt.Errorf("the node's default route via %s: %w", p.Host, err)
	}
	// The host reaches the pods through the node, as a router would.
	if err := netlink.RouteReplace(&netlink.Route{LinkIndex: host.Attrs().Index, Dst: subnet.IPNet(p.Pods), Gw: net.IP(p.Node.AsSlice())}); err != nil {
		return fmt.Errorf("route to the pods %s via %s: %w", p.Pods, p.Node, err)
	}
	return nil
}

// removeLink deletes the host end of the veth pair (its peer, and the host's route to the
// pods, go with it); a missing link is fine.
func removeLink(p Plan) error {
	l, err := netlink.LinkByName(p.HostLink)
	var nf netlink.LinkNotFoundError
	if errors.As(err, &nf) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("look up link %s: %w", p.HostLink, err)
	}
	if err := netlink.LinkDel(l); err != nil {
		return fmt.Errorf("delete link %s: %w", p.HostLink, err)
	}
	return nil
}
