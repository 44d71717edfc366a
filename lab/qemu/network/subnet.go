package network

import (
	"github.com/cozylab/cozylab/internal/subnet"

	"errors"
	"net/netip"

	"github.com/vishvananda/netlink"
)

// Range is where labs take their /24s from.
var Range = subnet.Range

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
	used, err := subnet.Used(h.nl)
	if err != nil {
		return netip.Prefix{}, err
	}
	return subnet.FirstFree(Range, used)
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
		if p, ok := subnet.PrefixOf(a.IPNet); ok && p.Bits() == 24 && Range.Contains(p.Addr()) {
			return p.Masked(), true
		}
	}
	return netip.Prefix{}, false
}
