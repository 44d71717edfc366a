package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cozylab/cozylab/talos/nocloud"
)

// linkTimeout bounds the wait for a NIC to appear: virtio_net probes after the module loads.
const linkTimeout = 20 * time.Second

// nicUp is an interface the agent configured.
type nicUp struct {
	Link      netlink.Link
	Addresses []netip.Prefix
}

// configureNetwork brings up loopback and every interface of ifaces with its addresses and
// default route, and writes /etc/resolv.conf. The first configured address is the node's.
func configureNetwork(ctx context.Context, ifaces []nocloud.Interface, resolvPath string) ([]nicUp, error) {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return nil, fmt.Errorf("find loopback: %w", err)
	}

	if err := netlink.LinkSetUp(lo); err != nil {
		return nil, fmt.Errorf("bring up loopback: %w", err)
	}

	var out []nicUp

	for _, nic := range ifaces {
		up, err := configureNIC(ctx, nic)
		if err != nil {
			return nil, fmt.Errorf("configure %s: %w", nic.ID, err)
		}

		out = append(out, up)
	}

	if conf := resolvConf(ifaces); len(conf) > 0 {
		if err := os.WriteFile(resolvPath, conf, 0o644); err != nil { //nolint:gosec // resolv.conf is world-readable
			return nil, fmt.Errorf("write %s: %w", resolvPath, err)
		}
	}

	return out, nil
}

func configureNIC(ctx context.Context, nic nocloud.Interface) (nicUp, error) {
	link, err := waitLink(ctx, nic)
	if err != nil {
		return nicUp{}, err
	}

	for _, p := range nic.Addresses {
		addr := &netlink.Addr{IPNet: prefixNet(p)}
		if err := netlink.AddrReplace(link, addr); err != nil {
			return nicUp{}, fmt.Errorf("add address %s to %s: %w", p, link.Attrs().Name, err)
		}
	}

	if err := netlink.LinkSetUp(link); err != nil {
		return nicUp{}, fmt.Errorf("bring up %s: %w", link.Attrs().Name, err)
	}

	if nic.Gateway.IsValid() {
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: net.IP(nic.Gateway.AsSlice())}
		if err := netlink.RouteReplace(route); err != nil {
			return nicUp{}, fmt.Errorf("add default route via %s: %w", nic.Gateway, err)
		}
	}

	return nicUp{Link: link, Addresses: nic.Addresses}, nil
}

// waitLink finds the link nic selects, waiting (bounded) for its driver to register it.
func waitLink(ctx context.Context, nic nocloud.Interface) (netlink.Link, error) {
	ctx, cancel := context.WithTimeout(ctx, linkTimeout)
	defer cancel()

	ticker := time.NewTicker(250 * time.Millisecond)
	defer ticker.Stop()

	for {
		link, err := findLink(nic)
		if err == nil {
			return link, nil
		}

		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("wait for the link: %w", err)
		case <-ticker.C:
		}
	}
}

func findLink(nic nocloud.Interface) (netlink.Link, error) {
	if nic.MAC == nil {
		link, err := netlink.LinkByName(nic.Name)
		if err != nil {
			return nil, fmt.Errorf("find link %s: %w", nic.Name, err)
		}

		return link, nil
	}

	links, err := netlink.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list links: %w", err)
	}

	for _, l := range links {
		if bytes.Equal(l.Attrs().HardwareAddr, nic.MAC) {
			return l, nil
		}
	}

	return nil, fmt.Errorf("no link has MAC %s", nic.MAC)
}

// holdVIP adds vip/32 to link: the bootstrap node answers for the cluster endpoint.
func holdVIP(link netlink.Link, vip netip.Addr) error {
	addr := &netlink.Addr{IPNet: prefixNet(netip.PrefixFrom(vip, vip.BitLen()))}
	if err := netlink.AddrAdd(link, addr); err != nil && !errors.Is(err, unix.EEXIST) {
		return fmt.Errorf("add VIP %s to %s: %w", vip, link.Attrs().Name, err)
	}

	return nil
}

func prefixNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: net.IP(p.Addr().AsSlice()), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
