package realnode

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"

	"golang.org/x/sys/unix"
)

// DialFunc dials address ("host:port") for network "tcp".
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Dialer dials from inside the network namespace of the node whose directory is dir (see
// Prepare), as a process on the node would: pod addresses through its bridge, Service IPs
// through its kube-proxy. A name is resolved by the cluster DNS at dns — as given, then under
// svc.cluster.local and cluster.local, so "echo.cozy-e2e-echo" and "echo.cozy-e2e-echo.svc"
// work as in a pod — except the names in hosts (the lab's node names), which are taken as
// they are.
func Dialer(dir string, dns netip.Addr, hosts map[string]netip.Addr) DialFunc {
	nsPath := pathsIn(dir).netns
	resolver := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		return dialIn(ctx, nsPath, network, netip.AddrPortFrom(dns, 53).String())
	}}
	return func(ctx context.Context, network, address string) (net.Conn, error) {
		host, port, err := net.SplitHostPort(address)
		if err != nil {
			return nil, err
		}
		addr, err := resolve(ctx, resolver, hosts, host)
		if err != nil {
			return nil, err
		}
		return dialIn(ctx, nsPath, network, net.JoinHostPort(addr.String(), port))
	}
}

func resolve(ctx context.Context, r *net.Resolver, hosts map[string]netip.Addr, host string) (netip.Addr, error) {
	if a, err := netip.ParseAddr(host); err == nil {
		return a, nil
	}
	name := strings.TrimSuffix(host, ".")
	if a, ok := hosts[name]; ok {
		return a, nil
	}
	candidates := []string{name + "."}
	if !strings.HasSuffix(name, ".cluster.local") {
		candidates = append(candidates, name+".cluster.local.", name+".svc.cluster.local.")
	}
	var errs []error
	for _, c := range candidates {
		addrs, err := r.LookupNetIP(ctx, "ip4", c)
		if err == nil && len(addrs) > 0 {
			return addrs[0], nil
		}
		errs = append(errs, err)
	}
	return netip.Addr{}, &net.DNSError{Err: fmt.Sprintf("the lab's DNS does not know it (%v)", errors.Join(errs...)), Name: host, IsNotFound: true}
}

// dialIn dials from a thread that entered the namespace at nsPath: the socket belongs to that
// namespace for its whole life. The thread is never unlocked, so it ends with its goroutine
// instead of returning to the pool in the wrong namespace.
func dialIn(ctx context.Context, nsPath, network, address string) (net.Conn, error) {
	type result struct {
		c   net.Conn
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		ns, err := os.Open(nsPath)
		if err != nil {
			ch <- result{err: fmt.Errorf("open the node's network namespace: %w", err)}
			return
		}
		defer ns.Close()
		if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("enter the node's network namespace: %w", err)}
			return
		}
		var d net.Dialer
		c, err := d.DialContext(ctx, network, address)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.c, r.err
}
