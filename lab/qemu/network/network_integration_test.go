//go:build integration

package network

import (
	"github.com/cozylab/cozylab/internal/subnet"

	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
)

func TestUpConvergesAndDownRemovesEverything(t *testing.T) {
	ns := inNewNetns(t)
	ctx := context.Background()
	setForwarding(t, false)
	p, err := NewPlan("my-lab", 3, netip.MustParsePrefix("10.213.5.0/24"))
	require.NoError(t, err)

	changes, err := Up(ctx, p)
	require.NoError(t, err)
	assert.True(t, changes.EnabledForwarding, "forwarding was off in the new namespace")
	requireUp(t, ns, p)

	again, err := Up(ctx, p)
	require.NoError(t, err)
	assert.False(t, again.EnabledForwarding, "the second Up finds forwarding on")
	changes = changes.Merge(again)
	requireUp(t, ns, p)

	require.NoError(t, Down(ctx, p.Names, changes))
	requireGone(t, ns, p.Names)
	on, err := Forwarding()
	require.NoError(t, err)
	assert.False(t, on, "the last lab down switches forwarding back off")

	require.NoError(t, Down(ctx, p.Names, changes), "a second Down finds nothing and is fine")
	requireGone(t, ns, p.Names)
}

func TestUpRepairsDrift(t *testing.T) {
	ns := inNewNetns(t)
	ctx := context.Background()
	p, err := NewPlan("dev", 3, netip.MustParsePrefix("10.213.0.0/24"))
	require.NoError(t, err)
	changes, err := Up(ctx, p)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, Down(ctx, p.Names, changes)) })

	// A tap lost, a stray address, a tap of a bigger earlier plan, a bridge squatting on a tap name.
	tap2, err := ns.nl.LinkByName("czl-dev-2")
	require.NoError(t, err)
	require.NoError(t, ns.nl.LinkDel(tap2))
	br, err := ns.nl.LinkByName(p.Bridge)
	require.NoError(t, err)
	require.NoError(t, ns.nl.AddrAdd(br, &netlink.Addr{IPNet: subnet.IPNet(netip.MustParsePrefix("10.99.0.1/24"))}))
	require.NoError(t, ns.nl.LinkAdd(&netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: "czl-dev-7"},
		Mode: netlink.TUNTAP_MODE_TAP, Flags: netlink.TUNTAP_NO_PI}))
	tap3, err := ns.nl.LinkByName("czl-dev-3")
	require.NoError(t, err)
	require.NoError(t, ns.nl.LinkDel(tap3))
	require.NoError(t, ns.nl.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "czl-dev-3"}}))

	_, err = Up(ctx, p)
	require.NoError(t, err)
	requireUp(t, ns, p)
}

func TestDownLeavesForwardingOnForAnotherLab(t *testing.T) {
	inNewNetns(t)
	ctx := context.Background()
	setForwarding(t, false)
	a, err := NewPlan("a", 1, netip.MustParsePrefix("10.213.0.0/24"))
	require.NoError(t, err)
	b, err := NewPlan("b", 1, netip.MustParsePrefix("10.213.1.0/24"))
	require.NoError(t, err)
	changesA, err := Up(ctx, a)
	require.NoError(t, err)
	changesB, err := Up(ctx, b)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, Down(ctx, b.Names, changesB)) })
	require.True(t, changesA.EnabledForwarding)

	require.NoError(t, Down(ctx, a.Names, changesA))
	on, err := Forwarding()
	require.NoError(t, err)
	assert.True(t, on, "lab b is still up and needs forwarding")
	st, err := Inspect(b.Names)
	require.NoError(t, err)
	assert.True(t, st.Complete(b), "taking a down must not touch b: %+v", st)
}

// requireUp reads the lab's network back through netlink, nftables and /proc.
func requireUp(t *testing.T, ns *testNS, p Plan) {
	t.Helper()
	st, err := Inspect(p.Names)
	require.NoError(t, err)
	var taps []string
	for _, n := range p.Nodes {
		taps = append(taps, n.Tap)
	}
	assert.Equal(t, Status{Bridge: true, BridgeAddrs: []netip.Prefix{p.GatewayPrefix()}, Taps: taps, Table: true}, st)
	assert.True(t, st.Complete(p))

	br, err := ns.nl.LinkByName(p.Bridge)
	require.NoError(t, err)
	assert.Equal(t, "bridge", br.Type())
	assert.NotZero(t, br.Attrs().Flags&net.FlagUp, "bridge is up")
	for _, name := range taps {
		l, err := ns.nl.LinkByName(name)
		require.NoError(t, err)
		tap, ok := l.(*netlink.Tuntap)
		require.True(t, ok, "%s is a %s, not a tuntap", name, l.Type())
		assert.Equal(t, netlink.TUNTAP_MODE_TAP, tap.Mode)
		assert.False(t, tap.NonPersist, "%s is persistent", name)
		assert.Equal(t, br.Attrs().Index, l.Attrs().MasterIndex, "%s is attached to the bridge", name)
		assert.NotZero(t, l.Attrs().Flags&net.FlagUp, "%s is up", name)
	}
	on, err := Forwarding()
	require.NoError(t, err)
	assert.True(t, on, "ip_forward of the namespace is on")
	requireTable(t, ns.nft(t), p)
}

// requireTable checks the masquerade rule and the forward accepts, exactly once each.
func requireTable(t *testing.T, c *nftables.Conn, p Plan) {
	t.Helper()
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: p.Table}
	post, err := c.GetRules(table, &nftables.Chain{Name: PostroutingChain, Table: table})
	require.NoError(t, err)
	require.Len(t, post, 1, "one masquerade rule, not one per Up")
	subnet := p.Subnet.Addr().As4()
	var ops []expr.CmpOp
	masq := false
	for _, e := range post[0].Exprs {
		switch e := e.(type) {
		case *expr.Cmp:
			assert.Equal(t, subnet[:], e.Data)
			ops = append(ops, e.Op)
		case *expr.Masq:
			masq = true
		}
	}
	assert.Equal(t, []expr.CmpOp{expr.CmpOpEq, expr.CmpOpNeq}, ops, "saddr in subnet, daddr not in subnet")
	assert.True(t, masq, "the rule masquerades")

	chain, err := c.ListChain(table, PostroutingChain)
	require.NoError(t, err)
	assert.Equal(t, nftables.ChainTypeNAT, chain.Type)
	assert.Equal(t, *nftables.ChainHookPostrouting, *chain.Hooknum)

	fwd, err := c.GetRules(table, &nftables.Chain{Name: ForwardChain, Table: table})
	require.NoError(t, err)
	require.Len(t, fwd, 2)
	for _, r := range fwd {
		assert.Equal(t, acceptIfnameNames(r), p.Bridge)
	}
}

func acceptIfnameNames(r *nftables.Rule) string {
	for _, e := range r.Exprs {
		if c, ok := e.(*expr.Cmp); ok {
			return strings.TrimRight(string(c.Data), "\x00")
		}
	}
	return ""
}

// requireGone checks nothing of the lab is left in the namespace.
func requireGone(t *testing.T, ns *testNS, n Names) {
	t.Helper()
	st, err := Inspect(n)
	require.NoError(t, err)
	assert.True(t, st.Empty(), "left behind: %+v", st)
	links, err := ns.nl.LinkList()
	require.NoError(t, err)
	for _, l := range links {
		assert.False(t, strings.HasPrefix(l.Attrs().Name, LinkPrefix), "link %s left behind", l.Attrs().Name)
	}
	tables, err := ns.nft(t).ListTablesOfFamily(nftables.TableFamilyIPv4)
	require.NoError(t, err)
	assert.Empty(t, tables)
}
