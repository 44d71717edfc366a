package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/cozylab/cozylab/talos/twin"
)

// nodeSysctls are what a Kubernetes node needs of the kernel: forwarding for the pods' traffic,
// and bridged traffic through the firewall, so Service addresses work between pods of a node.
func nodeSysctls() error {
	for path, value := range map[string]string{
		"/proc/sys/net/ipv4/ip_forward":                 "1",
		"/proc/sys/net/bridge/bridge-nf-call-iptables":  "1",
		"/proc/sys/net/bridge/bridge-nf-call-ip6tables": "1",
	} {
		if err := os.WriteFile(path, []byte(value), 0o644); err != nil { //nolint:gosec // a proc file
			return fmt.Errorf("set %s (is br_netfilter loaded?): %w", path, err)
		}
	}

	return nil
}

// podRoutes keeps the routes to the other nodes' pod CIDRs on link, as a host-gateway CNI
// does: each call replaces them with routes, removing those no longer wanted.
func podRoutes(link netlink.Link) func(context.Context, []twin.PodRoute) error {
	installed := map[string]*netlink.Route{}

	return func(_ context.Context, routes []twin.PodRoute) error {
		want := map[string]*netlink.Route{}

		for _, r := range routes {
			route := &netlink.Route{
				LinkIndex: link.Attrs().Index,
				Dst:       prefixNet(r.Pods),
				Gw:        net.IP(r.Via.AsSlice()),
			}
			if err := netlink.RouteReplace(route); err != nil {
				return fmt.Errorf("route %s via %s (%s): %w", r.Pods, r.Via, r.Node, err)
			}

			want[r.Pods.String()] = route
		}

		var errs []error

		for dst, route := range installed {
			if _, ok := want[dst]; !ok {
				if err := netlink.RouteDel(route); err != nil && !errors.Is(err, unix.ESRCH) {
					errs = append(errs, fmt.Errorf("remove route %s: %w", dst, err))
				}
			}
		}

		installed = want

		return errors.Join(errs...)
	}
}
