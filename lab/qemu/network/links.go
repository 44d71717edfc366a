package network

import (
	"github.com/cozylab/cozylab/internal/subnet"

	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sort"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// ensureBridge makes the plan's bridge exist, hold exactly the gateway address among IPv4
// addresses, and be up. A link of another kind under the bridge's name is replaced.
func ensureBridge(nl *netlink.Handle, p Plan) (netlink.Link, error) {
	l, err := linkByName(nl, p.Bridge)
	if err != nil {
		return nil, err
	}
	if l != nil && l.Type() != "bridge" {
		if err := nl.LinkDel(l); err != nil {
			return nil, fmt.Errorf("delete link %s (a %s, not a bridge): %w", p.Bridge, l.Type(), err)
		}
		l = nil
	}
	if l == nil {
		if err := nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: p.Bridge}}); err != nil {
			return nil, fmt.Errorf("create bridge %s: %w", p.Bridge, err)
		}
		if l, err = nl.LinkByName(p.Bridge); err != nil {
			return nil, fmt.Errorf("look up bridge %s: %w", p.Bridge, err)
		}
	}
	if err := setOnlyAddress(nl, l, p.GatewayPrefix()); err != nil {
		return nil, err
	}
	if err := nl.LinkSetUp(l); err != nil {
		return nil, fmt.Errorf("set bridge %s up: %w", p.Bridge, err)
	}
	return l, nil
}

// setOnlyAddress leaves want as the link's only IPv4 address (a plan may have changed subnet).
func setOnlyAddress(nl *netlink.Handle, l netlink.Link, want netip.Prefix) error {
	name := l.Attrs().Name
	addrs, err := nl.AddrList(l, netlink.FAMILY_V4)
	if err != nil {
		return fmt.Errorf("list addresses of %s: %w", name, err)
	}
	for _, a := range addrs {
		if got, ok := subnet.PrefixOf(a.IPNet); ok && got != want {
			if err := nl.AddrDel(l, &a); err != nil {
				return fmt.Errorf("remove stale address %s from %s: %w", got, name, err)
			}
		}
	}
	if err := nl.AddrReplace(l, &netlink.Addr{IPNet: subnet.IPNet(want)}); err != nil {
		return fmt.Errorf("address %s with %s: %w", name, want, err)
	}
	return nil
}

// ensureTaps makes one persistent, root-owned tap per node, attached to bridge and up, and
// removes taps of this lab that the plan no longer has.
func ensureTaps(nl *netlink.Handle, p Plan, bridge netlink.Link) error {
	want := map[string]bool{}
	for _, n := range p.Nodes {
		want[n.Tap] = true
		if err := ensureTap(nl, n.Tap, bridge); err != nil {
			return err
		}
	}
	_, taps, err := labLinks(nl, p.Names)
	if err != nil {
		return err
	}
	for _, name := range taps {
		if !want[name] {
			if err := deleteLink(nl, name); err != nil {
				return err
			}
		}
	}
	return nil
}

func ensureTap(nl *netlink.Handle, name string, bridge netlink.Link) error {
	l, err := linkByName(nl, name)
	if err != nil {
		return err
	}
	if t, ok := l.(*netlink.Tuntap); l != nil && (!ok || t.Mode != netlink.TUNTAP_MODE_TAP) {
		if err := nl.LinkDel(l); err != nil {
			return fmt.Errorf("delete link %s (a %s, not a tap): %w", name, l.Type(), err)
		}
		l = nil
	}
	if l == nil {
		tap := &netlink.Tuntap{
			LinkAttrs: netlink.LinkAttrs{Name: name},
			Mode:      netlink.TUNTAP_MODE_TAP,
			// QEMU's own TUNSETIFF replaces these; only multi-queue must match, and it is off.
			Flags: netlink.TUNTAP_NO_PI | netlink.TUNTAP_VNET_HDR,
			// Persistent and owned by uid/gid 0: only root (or CAP_NET_ADMIN) attaches.
			Owner: 0,
			Group: 0,
		}
		if err := nl.LinkAdd(tap); err != nil {
			return fmt.Errorf("create tap %s: %w", name, err)
		}
		if l, err = nl.LinkByName(name); err != nil {
			return fmt.Errorf("look up tap %s: %w", name, err)
		}
	}
	if l.Attrs().MasterIndex != bridge.Attrs().Index {
		if err := nl.LinkSetMaster(l, bridge); err != nil {
			return fmt.Errorf("attach tap %s to bridge %s: %w", name, bridge.Attrs().Name, err)
		}
	}
	if err := nl.LinkSetUp(l); err != nil {
		return fmt.Errorf("set tap %s up: %w", name, err)
	}
	return nil
}

// labLinks reports whether the lab's bridge exists and which of its taps do, sorted.
func labLinks(nl *netlink.Handle, n Names) (bool, []string, error) {
	links, err := nl.LinkList()
	if err != nil {
		return false, nil, fmt.Errorf("list links: %w", err)
	}
	bridge := false
	var taps []string
	for _, l := range links {
		switch name := l.Attrs().Name; {
		case name == n.Bridge:
			bridge = true
		case n.isTap(name):
			taps = append(taps, name)
		}
	}
	sort.Strings(taps)
	return bridge, slices.Clip(taps), nil
}

// removeLinks deletes the lab's taps, then its bridge; what is already gone is fine.
func removeLinks(nl *netlink.Handle, n Names) error {
	bridge, taps, err := labLinks(nl, n)
	if err != nil {
		return err
	}
	var errs []error
	for _, name := range taps {
		errs = append(errs, deleteLink(nl, name))
	}
	if bridge {
		errs = append(errs, deleteLink(nl, n.Bridge))
	}
	return errors.Join(errs...)
}

func deleteLink(nl *netlink.Handle, name string) error {
	l, err := linkByName(nl, name)
	if err != nil || l == nil {
		return err
	}
	if err := nl.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("delete link %s: %w", name, err)
	}
	return nil
}
