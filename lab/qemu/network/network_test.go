package network

import (
	"context"
	"net/netip"
	"testing"

	"github.com/google/nftables/expr"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestUpRefusesAnInvalidPlanBeforeTouchingTheHost(t *testing.T) {
	_, err := Up(context.Background(), Plan{Names: Names{Lab: "dev"}})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "make the plan with NewPlan")
}

func TestDownRefusesIncompleteNames(t *testing.T) {
	err := Down(context.Background(), Names{Lab: "dev"}, HostChanges{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "derive them with NamesFor")
}

func TestStatusCompleteAndEmpty(t *testing.T) {
	p, err := NewPlan("dev", 2, netip.MustParsePrefix("10.213.0.0/24"))
	require.NoError(t, err)
	full := Status{Bridge: true, BridgeAddrs: []netip.Prefix{p.GatewayPrefix()}, Taps: []string{"czl-dev-1", "czl-dev-2"}, Table: true}
	assert.True(t, full.Complete(p))
	assert.False(t, full.Empty())

	missingTap := full
	missingTap.Taps = []string{"czl-dev-1"}
	assert.False(t, missingTap.Complete(p))
	wrongAddr := full
	wrongAddr.BridgeAddrs = []netip.Prefix{netip.MustParsePrefix("10.213.1.1/24")}
	assert.False(t, wrongAddr.Complete(p))
	assert.True(t, Status{}.Empty())
	assert.False(t, Status{Table: true}.Empty())
}

func TestHostChangesMerge(t *testing.T) {
	first := HostChanges{EnabledForwarding: true}
	assert.True(t, first.Merge(HostChanges{}).EnabledForwarding)
	assert.True(t, HostChanges{}.Merge(first).EnabledForwarding)
	assert.False(t, HostChanges{}.Merge(HostChanges{}).EnabledForwarding)
}

func TestMasqueradeMatchesTheSubnetOnly(t *testing.T) {
	p, err := NewPlan("dev", 1, netip.MustParsePrefix("10.213.3.0/24"))
	require.NoError(t, err)
	e := masqueradeExprs(p)
	require.Len(t, e, 8)
	assert.Equal(t, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 12, Len: 4}, e[0], "ip saddr")
	assert.Equal(t, []byte{255, 255, 255, 0}, e[1].(*expr.Bitwise).Mask)
	assert.Equal(t, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{10, 213, 3, 0}}, e[2])
	assert.Equal(t, uint32(16), e[3].(*expr.Payload).Offset, "ip daddr")
	assert.Equal(t, &expr.Cmp{Op: expr.CmpOpNeq, Register: 1, Data: []byte{10, 213, 3, 0}}, e[5])
	assert.IsType(t, &expr.Masq{}, e[7])
}

func TestAcceptIfnameComparesThePaddedName(t *testing.T) {
	e := acceptIfname(expr.MetaKeyIIFNAME, "czl-dev")
	want := append([]byte("czl-dev"), make([]byte, 9)...)
	assert.Equal(t, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: want}, e[1])
	assert.Equal(t, &expr.Verdict{Kind: expr.VerdictAccept}, e[3])
}
