package network

import (
	"errors"
	"fmt"
	"runtime"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// host is the calling thread's network namespace, opened for netlink and nftables. The
// goroutine stays locked to its thread until close, so tap creation (an ioctl on /dev/net/tun,
// which acts on the thread's namespace) lands in the same namespace as the netlink calls.
type host struct {
	ns netns.NsHandle
	nl *netlink.Handle
}

func openHost() (*host, error) {
	runtime.LockOSThread()
	ns, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return nil, fmt.Errorf("open the current network namespace: %w", err)
	}
	nl, err := netlink.NewHandleAt(ns)
	if err != nil {
		runtime.UnlockOSThread()
		return nil, errors.Join(fmt.Errorf("open netlink: %w", err), ns.Close())
	}
	return &host{ns: ns, nl: nl}, nil
}

func (h *host) close() error {
	h.nl.Close()
	err := h.ns.Close()
	runtime.UnlockOSThread()
	if err != nil {
		return fmt.Errorf("close the network namespace handle: %w", err)
	}
	return nil
}

// nft opens an nftables connection in the host's namespace.
func (h *host) nft() (*nftables.Conn, error) {
	c, err := nftables.New(nftables.WithNetNSFd(int(h.ns)))
	if err != nil {
		return nil, fmt.Errorf("open nftables: %w", err)
	}
	return c, nil
}

// linkByName returns the named link, or nil when there is none.
func linkByName(nl *netlink.Handle, name string) (netlink.Link, error) {
	l, err := nl.LinkByName(name)
	var notFound netlink.LinkNotFoundError
	if errors.As(err, &notFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("look up link %s: %w", name, err)
	}
	return l, nil
}
