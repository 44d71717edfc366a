package main

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/cozylab/cozylab/talos/nocloud"
)

func TestResolvConf(t *testing.T) {
	ifaces := []nocloud.Interface{
		{ID: "eth0", Nameservers: []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("8.8.8.8")}},
		{ID: "eth1"},
		{ID: "eth2", Nameservers: []netip.Addr{netip.MustParseAddr("fd00::53")}},
	}
	assert.Equal(t, "nameserver 1.1.1.1\nnameserver 8.8.8.8\nnameserver fd00::53\n", string(resolvConf(ifaces)))
	assert.Empty(t, resolvConf([]nocloud.Interface{{ID: "eth0"}}), "no nameservers, no resolv.conf")
}
