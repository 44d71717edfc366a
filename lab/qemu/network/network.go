package network

import (
	"github.com/cozylab/cozylab/internal/subnet"

	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// Up makes the plan's network exist in the calling thread's network namespace and converges
// what an earlier run left: the bridge with only the gateway address, one tap per node attached
// and up (stale taps of the lab removed), IPv4 forwarding on, and the lab's nftables table
// rewritten. It returns what it changed on the host for Down (see HostChanges.Merge). It needs
// root; without it the error says so.
func Up(ctx context.Context, p Plan) (changes HostChanges, err error) {
	if err := p.Validate(); err != nil {
		return HostChanges{}, err
	}
	if os.Geteuid() != 0 {
		return HostChanges{}, fmt.Errorf("set up the network of lab %s: needs root; run as root (sudo -E)", p.Lab)
	}
	h, err := openHost()
	if err != nil {
		return HostChanges{}, err
	}
	defer func() { err = errors.Join(err, h.close()) }()

	bridge, err := ensureBridge(h.nl, p)
	if err != nil {
		return HostChanges{}, err
	}
	if err := ctx.Err(); err != nil {
		return HostChanges{}, fmt.Errorf("set up the network of lab %s: %w", p.Lab, err)
	}
	if err := ensureTaps(h.nl, p, bridge); err != nil {
		return HostChanges{}, err
	}
	enabled, err := enableForwarding()
	changes.EnabledForwarding = enabled
	if err != nil {
		return changes, err
	}
	if err := ctx.Err(); err != nil {
		return changes, fmt.Errorf("set up the network of lab %s: %w", p.Lab, err)
	}
	c, err := h.nft()
	if err != nil {
		return changes, err
	}
	return changes, applyTable(c, p)
}

// Down removes the lab's nftables table, its taps (every link named Bridge-<n>, however many
// nodes there were) and its bridge from the calling thread's network namespace. What is
// already gone is fine, so it can run any number of times, and every error is joined. When
// changes says Up enabled forwarding and no other cozylab table is left, forwarding is switched
// off again. It does not stop what uses the taps.
func Down(ctx context.Context, n Names, changes HostChanges) (err error) {
	if n.Lab == "" || n.Bridge == "" || n.Table == "" {
		return fmt.Errorf("tear down a lab network: names %+v incomplete; derive them with NamesFor", n)
	}
	h, err := openHost()
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, h.close()) }()

	var errs []error
	c, err := h.nft()
	if err == nil {
		err = deleteTable(c, n.Table)
		if err == nil && changes.EnabledForwarding {
			err = restoreForwarding(c)
		}
	}
	errs = append(errs, err)
	if err := ctx.Err(); err != nil {
		return errors.Join(append(errs, fmt.Errorf("tear down the network of lab %s: %w", n.Lab, err))...)
	}
	errs = append(errs, removeLinks(h.nl, n))
	return errors.Join(errs...)
}

// restoreForwarding turns forwarding off unless another lab still has its table here.
func restoreForwarding(c *nftables.Conn) error {
	others, err := labTables(c)
	if err != nil || len(others) > 0 {
		return err
	}
	return writeForwarding("0")
}

// Status is what exists of one lab's network.
type Status struct {
	// Bridge says whether the lab's bridge exists.
	Bridge bool
	// BridgeAddrs are the bridge's IPv4 addresses.
	BridgeAddrs []netip.Prefix
	// Taps are the lab's taps that exist (Bridge-<n>), sorted by name.
	Taps []string
	// Table says whether the lab's nftables table exists.
	Table bool
}

// Empty says nothing of the lab's network is left.
func (s Status) Empty() bool { return !s.Bridge && len(s.Taps) == 0 && !s.Table }

// Complete says the bridge, every tap of p and the table exist, with the gateway on the bridge.
func (s Status) Complete(p Plan) bool {
	if !s.Bridge || !s.Table || !slices.Contains(s.BridgeAddrs, p.GatewayPrefix()) {
		return false
	}
	for _, n := range p.Nodes {
		if !slices.Contains(s.Taps, n.Tap) {
			return false
		}
	}
	return true
}

// Inspect reports which of the lab's links and table exist in the calling thread's network
// namespace; for status output and tests. It changes nothing.
func Inspect(n Names) (s Status, err error) {
	h, err := openHost()
	if err != nil {
		return Status{}, err
	}
	defer func() { err = errors.Join(err, h.close()) }()
	if s.Bridge, s.Taps, err = labLinks(h.nl, n); err != nil {
		return Status{}, err
	}
	if s.Bridge {
		l, err := h.nl.LinkByName(n.Bridge)
		if err != nil {
			return Status{}, fmt.Errorf("look up bridge %s: %w", n.Bridge, err)
		}
		addrs, err := h.nl.AddrList(l, netlink.FAMILY_V4)
		if err != nil {
			return Status{}, fmt.Errorf("list addresses of %s: %w", n.Bridge, err)
		}
		for _, a := range addrs {
			if p, ok := subnet.PrefixOf(a.IPNet); ok {
				s.BridgeAddrs = append(s.BridgeAddrs, p)
			}
		}
	}
	c, err := h.nft()
	if err != nil {
		return Status{}, err
	}
	tables, err := labTables(c)
	if err != nil {
		return Status{}, err
	}
	s.Table = slices.Contains(tables, n.Table)
	return s, nil
}
