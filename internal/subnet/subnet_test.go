package subnet

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestFirstFree(t *testing.T) {
	tests := map[string]struct {
		used []netip.Prefix
		want string
	}{
		"empty host":               {want: "10.213.0.0/24"},
		"unrelated networks":       {used: prefixes("192.168.1.0/24", "10.0.0.0/16", "10.214.0.0/24"), want: "10.213.0.0/24"},
		"address in the first /24": {used: prefixes("10.213.0.5/32", "10.213.0.0/24"), want: "10.213.1.0/24"},
		"a host route":             {used: prefixes("10.213.0.77/32"), want: "10.213.1.0/24"},
		"a wider route":            {used: prefixes("10.213.0.0/23"), want: "10.213.2.0/24"},
		"gaps are used":            {used: prefixes("10.213.0.0/24", "10.213.2.0/24"), want: "10.213.1.0/24"},
		"last one free":            {used: prefixes("10.213.0.0/17", "10.213.128.0/18", "10.213.192.0/19", "10.213.224.0/20", "10.213.240.0/21", "10.213.248.0/22", "10.213.252.0/23", "10.213.254.0/24"), want: "10.213.255.0/24"},
	}
	for name, tt := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := FirstFree(Range, tt.used)
			require.NoError(t, err)
			assert.Equal(t, netip.MustParsePrefix(tt.want), got)
		})
	}
}

func TestFirstFreeExhaustedSaysWhatToDo(t *testing.T) {
	_, err := FirstFree(Range, prefixes("10.213.0.0/24", "10.0.0.0/8"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "no free /24 in 10.213.0.0/16")
	assert.Contains(t, err.Error(), "widest: 10.0.0.0/8")
	assert.Contains(t, err.Error(), "lab:down")
}

func TestPrefixOf(t *testing.T) {
	_, n4, err := net.ParseCIDR("10.213.3.7/24")
	require.NoError(t, err)
	n4.IP = net.ParseIP("10.213.3.7") // 16-byte form, as netlink returns it
	got, ok := PrefixOf(n4)
	require.True(t, ok)
	assert.Equal(t, netip.MustParsePrefix("10.213.3.7/24"), got)
	assert.Equal(t, n4.Mask, IPNet(got).Mask)

	_, n6, err := net.ParseCIDR("fd00::/64")
	require.NoError(t, err)
	_, ok = PrefixOf(n6)
	assert.False(t, ok)
	_, ok = PrefixOf(nil)
	assert.False(t, ok)
}
