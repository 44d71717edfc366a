//go:build integration

package network

import (
	"github.com/cozylab/cozylab/internal/subnet"

	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"
)

func TestChooseSubnetSkipsAddressesAndRoutes(t *testing.T) {
	ns := inNewNetns(t)
	got, err := ChooseSubnet("dev")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("10.213.0.0/24"), got, "an empty namespace has every /24 free")

	d := ns.dummy(t, "dummy0")
	require.NoError(t, ns.nl.AddrAdd(d, &netlink.Addr{IPNet: subnet.IPNet(netip.MustParsePrefix("10.213.0.5/24"))}))
	got, err = ChooseSubnet("dev")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("10.213.1.0/24"), got, "10.213.0.0/24 holds an address")

	// A route in a table other than main still makes its /24 taken.
	require.NoError(t, ns.nl.RouteAdd(&netlink.Route{
		LinkIndex: d.Attrs().Index, Dst: subnet.IPNet(netip.MustParsePrefix("10.213.1.0/24")), Table: 100,
	}))
	got, err = ChooseSubnet("dev")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("10.213.2.0/24"), got, "10.213.1.0/24 has a route in table 100")

	require.NoError(t, ns.nl.AddrAdd(d, &netlink.Addr{IPNet: subnet.IPNet(netip.MustParsePrefix("10.213.200.1/16"))}))
	_, err = ChooseSubnet("dev")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no free /24 in 10.213.0.0/16")
}

func TestChooseSubnetKeepsTheLabsOwnSubnet(t *testing.T) {
	ns := inNewNetns(t)
	d := ns.dummy(t, "dummy0")
	require.NoError(t, ns.nl.AddrAdd(d, &netlink.Addr{IPNet: subnet.IPNet(netip.MustParsePrefix("10.213.0.1/24"))}))
	p, err := NewPlan("dev", 1, netip.MustParsePrefix("10.213.7.0/24"))
	require.NoError(t, err)
	changes, err := Up(context.Background(), p)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, Down(context.Background(), p.Names, changes)) })

	got, err := ChooseSubnet("dev")
	require.NoError(t, err)
	assert.Equal(t, p.Subnet, got, "a re-run must not move a lab that is up")
	got, err = ChooseSubnet("other")
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("10.213.1.0/24"), got)
}
