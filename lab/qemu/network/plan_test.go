package network

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestNamesForShortAndLongLabs(t *testing.T) {
	tests := []struct {
		lab, bridge string
	}{
		{lab: "dev", bridge: "czl-dev"},
		{lab: "lab1234", bridge: "czl-lab1234"},
		// Eight characters, a dash, or anything longer is hashed: 8 hex digits.
		{lab: "lab12345", bridge: "czl-" + hashOf("lab12345")},
		{lab: "my-lab", bridge: "czl-" + hashOf("my-lab")},
		{lab: strings.Repeat("a", 32), bridge: "czl-" + hashOf(strings.Repeat("a", 32))},
	}
	for _, tt := range tests {
		t.Run(tt.lab, func(t *testing.T) {
			n, err := NamesFor(tt.lab)
			require.NoError(t, err)
			assert.Equal(t, tt.bridge, n.Bridge)
			assert.Equal(t, "cozylab-"+tt.lab, n.Table)
			assert.Equal(t, tt.bridge+"-99", n.Tap(99))
			assert.LessOrEqual(t, len(n.Tap(MaxNodes)), 15, "tap names must fit IFNAMSIZ")
		})
	}
}

func hashOf(lab string) string {
	sum := sha256.Sum256([]byte(lab))
	return hex.EncodeToString(sum[:4])
}

func TestNamesForRejectsBadLabNames(t *testing.T) {
	for _, lab := range []string{"", "Dev", "a_b", "-a", strings.Repeat("a", 33)} {
		_, err := NamesFor(lab)
		assert.Error(t, err, lab)
	}
}

func TestNamesAreStable(t *testing.T) {
	// Changing these renames links of labs that are up: Down would then miss them.
	n, err := NamesFor("cozystack-e2e")
	require.NoError(t, err)
	assert.Equal(t, Names{Lab: "cozystack-e2e", Bridge: "czl-76f01f84", Table: "cozylab-cozystack-e2e"}, n)
}

func TestNewPlanAddresses(t *testing.T) {
	p, err := NewPlan("dev", 3, netip.MustParsePrefix("10.213.4.77/24"))
	require.NoError(t, err)
	assert.Equal(t, netip.MustParsePrefix("10.213.4.0/24"), p.Subnet)
	assert.Equal(t, netip.MustParseAddr("10.213.4.1"), p.Gateway)
	assert.Equal(t, netip.MustParsePrefix("10.213.4.1/24"), p.GatewayPrefix())
	assert.Equal(t, netip.MustParseAddr("10.213.4.10"), p.VIP)
	assert.Equal(t, []Node{
		{Tap: "czl-dev-1", Addr: netip.MustParseAddr("10.213.4.11")},
		{Tap: "czl-dev-2", Addr: netip.MustParseAddr("10.213.4.12")},
		{Tap: "czl-dev-3", Addr: netip.MustParseAddr("10.213.4.13")},
	}, p.Nodes)
	require.NoError(t, p.Validate())
}

func TestNewPlanRejectsBadInput(t *testing.T) {
	tests := map[string]struct {
		nodes  int
		subnet string
		want   string
	}{
		"no nodes":       {nodes: 0, subnet: "10.213.0.0/24", want: "use 1 to 99"},
		"too many nodes": {nodes: 100, subnet: "10.213.0.0/24", want: "use 1 to 99"},
		"not a /24":      {nodes: 3, subnet: "10.213.0.0/16", want: "use an IPv4 /24"},
		"ipv6":           {nodes: 3, subnet: "fd00::/120", want: "use an IPv4 /24"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := NewPlan("dev", tt.nodes, netip.MustParsePrefix(tt.subnet))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestPlanSurvivesJSON(t *testing.T) {
	p, err := NewPlan("my-lab", 3, netip.MustParsePrefix("10.213.9.0/24"))
	require.NoError(t, err)
	raw, err := json.Marshal(p)
	require.NoError(t, err)
	assert.Contains(t, string(raw), `"subnet":"10.213.9.0/24"`)
	var back Plan
	require.NoError(t, json.Unmarshal(raw, &back))
	assert.Equal(t, p, back)
	require.NoError(t, back.Validate())
}

func TestValidateRejectsForeignTaps(t *testing.T) {
	p, err := NewPlan("dev", 2, netip.MustParsePrefix("10.213.0.0/24"))
	require.NoError(t, err)
	p.Nodes[1].Tap = "eth0"
	assert.ErrorContains(t, p.Validate(), "not a tap of czl-dev")
	assert.Error(t, Plan{}.Validate())
}

func TestIsTapOnlyMatchesNumberedTaps(t *testing.T) {
	n, err := NamesFor("ab")
	require.NoError(t, err)
	assert.True(t, n.isTap("czl-ab-1"))
	assert.True(t, n.isTap("czl-ab-42"))
	assert.False(t, n.isTap("czl-ab"))
	assert.False(t, n.isTap("czl-ab-"))
	assert.False(t, n.isTap("czl-ab-x"))
	assert.False(t, n.isTap("czl-abc-1"))
}
