// Package subnet finds free IPv4 networks on this host for the labs' own networks: every
// address and route of the current network namespace counts as taken.
package subnet

import (
	"fmt"
	"net"
	"net/netip"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Range is where labs take their /24s from (QEMU networks and real nodes alike): private, and
// unlike 10.0.0.0/24 or 192.168.x.0/24 rarely used by home routers, VPNs or container runtimes.
var Range = netip.MustParsePrefix("10.213.0.0/16")

// Used lists the IPv4 networks of every address and every non-default route.
func Used(h *netlink.Handle) ([]netip.Prefix, error) {
	addrs, err := h.AddrList(nil, netlink.FAMILY_V4)
	if err != nil {
		return nil, fmt.Errorf("list host addresses: %w", err)
	}
	var used []netip.Prefix
	for _, a := range addrs {
		if p, ok := PrefixOf(a.IPNet); ok {
			used = append(used, p.Masked())
		}
	}
	routes, err := h.RouteListFiltered(netlink.FAMILY_V4,
		&netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
	if err != nil {
		return nil, fmt.Errorf("list host routes: %w", err)
	}
	for _, r := range routes {
		if p, ok := PrefixOf(r.Dst); ok && p.Bits() > 0 {
			used = append(used, p.Masked())
		}
	}
	return used, nil
}

// FirstFree is the first /24 of r that overlaps nothing in used.
func FirstFree(r netip.Prefix, used []netip.Prefix) (netip.Prefix, error) {
	var widest netip.Prefix
	for i := 0; i < 1<<max(24-r.Bits(), 0); i++ {
		c := netip.PrefixFrom(Offset(r, i*256), 24)
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

// overlapping is the first of used that overlaps c.
func overlapping(c netip.Prefix, used []netip.Prefix) (netip.Prefix, bool) {
	for _, u := range used {
		if u.Overlaps(c) {
			return u, true
		}
	}
	return netip.Prefix{}, false
}

// PrefixOf converts an IPv4 net.IPNet; nil and IPv6 networks give false.
func PrefixOf(n *net.IPNet) (netip.Prefix, bool) {
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

// IPNet converts an IPv4 prefix for netlink.
func IPNet(p netip.Prefix) *net.IPNet {
	a := p.Addr().As4()
	return &net.IPNet{IP: net.IP(a[:]), Mask: net.CIDRMask(p.Bits(), 32)}
}

// Offset is the address n after the start of an IPv4 prefix.
func Offset(p netip.Prefix, n int) netip.Addr {
	b := p.Masked().Addr().As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += uint32(n)
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}
