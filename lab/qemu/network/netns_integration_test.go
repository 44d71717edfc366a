//go:build integration

package network

import (
	"os"
	"runtime"
	"testing"

	"github.com/google/nftables"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
)

// testNS is a network namespace the test's goroutine is locked into until the test ends. Use it
// only from the test's own goroutine (no t.Run, no t.Parallel inside).
type testNS struct {
	ns netns.NsHandle
	nl *netlink.Handle
}

// inNewNetns moves the test's thread into a fresh network namespace and moves it back at the end.
// Everything created inside disappears with the namespace.
func inNewNetns(t *testing.T) *testNS {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Fatal("network integration tests create namespaces, links and nftables tables: run them as root " +
			"(sudo -E go test -tags integration ./lab/qemu/network/)")
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	require.NoError(t, err)
	ns, err := netns.New()
	if err != nil {
		runtime.UnlockOSThread()
		require.NoError(t, orig.Close())
		t.Fatalf("create a network namespace: %v", err)
	}
	nl, err := netlink.NewHandleAt(ns)
	require.NoError(t, err)
	t.Cleanup(func() {
		nl.Close()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: Go then ends it instead of reusing it in the wrong namespace.
			t.Errorf("return to the original network namespace: %v", err)
		} else {
			runtime.UnlockOSThread()
		}
		require.NoError(t, ns.Close())
		require.NoError(t, orig.Close())
	})
	return &testNS{ns: ns, nl: nl}
}

func (n *testNS) nft(t *testing.T) *nftables.Conn {
	t.Helper()
	c, err := nftables.New(nftables.WithNetNSFd(int(n.ns)))
	require.NoError(t, err)
	return c
}

// setForwarding sets ip_forward of the namespace the thread is in.
func setForwarding(t *testing.T, on bool) {
	t.Helper()
	v := "0"
	if on {
		v = "1"
	}
	require.NoError(t, writeForwarding(v))
}

// dummy adds an up link standing for any other interface (a bridge: this kernel has no dummy module) with the given name.
func (n *testNS) dummy(t *testing.T, name string) netlink.Link {
	t.Helper()
	require.NoError(t, n.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: name}}))
	l, err := n.nl.LinkByName(name)
	require.NoError(t, err)
	require.NoError(t, n.nl.LinkSetUp(l))
	return l
}
