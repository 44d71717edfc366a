package network

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Range is where labs take their /24s from: private, and unlike 10.0.0.0/24 or 192.168.x.0/24
// rarely used by home routers, VPNs or container runtimes.
var Range = netip.MustParsePrefix("10.213.0.0/16")

// ChooseSubnet picks the /24 for lab. When the lab's bridge already holds an address in Range
// (an earlier Up whose plan was lost), that /24 is kept; otherwise it is the first /24 of Range
// that overlaps no IPv4 address and no route (any table; default routes aside) in the current
// network namespace. Two labs chosen at the same moment may pick the same /24: call Up right
// after choosing, one lab at a time.
func ChooseSubnet(lab string) (_ netip.Prefix, err error) {
	names, err := NamesFor(lab)
	if err != nil {
		return netip.Prefix{}, err
	}
	h, err := openHost()
	if err != nil {
		return netip.Prefix{}, err
	}
	defer func() { err = errors.Join(err, h.close()) }()
	if own, ok := bridgeSubnet(h.nl, names.Bridge); ok {
		return own, nil
	}
	used, err := usedPrefixes(h.nl)
	if err != nil {
		return netip.Prefix{}, err
	}
	return firstFree(Range, used)
}

// bridgeSubnet is the /24 in Range that the named bridge already holds, if any.
func bridgeSubnet(h *netlink.Handle, bridge string) (netip.Prefix, bool) {
	link, err := h.LinkByName(bridge)
	if err != nil {
		return netip.Prefix{}, false
	}
	addrs, err := h.AddrList(link, netlink.FAMILY_V4)
	if err != nil {
		return netip.Prefix{}, false
	}
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok && p.Bits() == 24 && Range.Contains(p.Addr()) {
			return p.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// usedPrefixes lists the IPv4 networks of every address and every non-default route.
func usedPrefixes(h *netlink.Handle) ([]netip.Prefix, error) {
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	var used []netip.Prefix
	for _, a := range addrs {
		if p, ok := prefixOf(a.IPNet); ok {
			used = append(used, p.Masked())
		}
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	for _, r := range routes {
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			used = append(used, p.Masked())
		}
	}
	return used, nil
}

// firstFree is the first /24 of r that overlaps nothing in used.
func firstFree(r netip.Prefix, used []netip.Prefix) (netip.Prefix, error) {
	var widest netip.Prefix
	for i := 0; i < 1<<max(24-r.Bits(), 0); i++ {
		c := netip.PrefixFrom(offset(r, i*256), 24)
		blocker, taken := overlapping(c, used)
		if !taken {
			return c, nil
		}
		if !widest.IsValid() || blocker.Bits() < widest.Bits() {
			widest = blocker
		}
	}
	return netip.Prefix{}, fmt.Errorf("no free /24 in %s: every /24 overlaps an address or route on this host (widest: %s); "+
		"remove that address or route, or run lab:down for labs you no longer need", r, widest)
}

func overlapping(c netip.Prefix, used []netip.Prefix) (netip.Prefix, bool) {
	for _, u := range used {
		if u.Overlaps(c) {
			return u, true
		}
	}
	return netip.Prefix{}, false
}

// prefixOf converts an IPv4 net.IPNet; nil and IPv6 networks give false.
func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip4 := n.IP.To4()
	ones, bits := n.Mask.Size()
	if ip4 == nil || bits != 32 {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(netip.AddrFrom4([4]byte(ip4)), ones), true
}

// ipNet converts an IPv4 prefix for netlink.
func ipNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().As4()
	return &net.IPNet{IP: net.IP(a[:]), Mask: net.CIDRMask(p.Bits(), 32)}
}
