package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMetaData(t *testing.T) {
	m, err := parseMetaData([]byte("instance-id: cp-1\nlocal-hostname: cp-1\nhostname: other\n"))
	require.NoError(t, err)
	assert.Equal(t, "cp-1", m.InstanceID)
	assert.Equal(t, "cp-1", m.name(), "local-hostname wins")

	m, err = parseMetaData([]byte("hostname: cp-2\n"))
	require.NoError(t, err)
	assert.Equal(t, "cp-2", m.name())

	_, err = parseMetaData([]byte("hostname: [unclosed"))
	require.Error(t, err)
}

const labNetworkConfig = `version: 2
ethernets:
  eth0:
    match:
      macaddress: "52:54:00:12:34:56"
    addresses: [10.5.0.2/24]
    gateway4: 10.5.0.1
    nameservers:
      addresses: [1.1.1.1, 8.8.8.8]
`

func TestParseNetworkConfig(t *testing.T) {
	for name, doc := range map[string]string{
		"bare":    labNetworkConfig,
		"wrapped": "network:\n" + indent(labNetworkConfig),
	} {
		t.Run(name, func(t *testing.T) {
			nics, err := parseNetworkConfig([]byte(doc))
			require.NoError(t, err)
			require.Len(t, nics, 1)

			nic := nics[0]
			assert.Equal(t, "eth0", nic.ID)
			assert.Equal(t, "52:54:00:12:34:56", nic.MAC.String())
			assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.5.0.2/24")}, nic.Addresses)
			assert.Equal(t, netip.MustParseAddr("10.5.0.1"), nic.Gateway)
			assert.Equal(t, "nameserver 1.1.1.1\nnameserver 8.8.8.8\n", string(resolvConf(nics)))
		})
	}
}

func TestParseNetworkConfigDefaultRouteAndName(t *testing.T) {
	nics, err := parseNetworkConfig([]byte(`version: 2
ethernets:
  enp0s2:
    addresses: [192.168.7.3/24]
    routes:
      - to: default
        via: 192.168.7.1
`))
	require.NoError(t, err)
	require.Len(t, nics, 1)
	assert.Nil(t, nics[0].MAC)
	assert.Equal(t, "enp0s2", nics[0].Name, "without a match the ID names the link")
	assert.Equal(t, netip.MustParseAddr("192.168.7.1"), nics[0].Gateway)
}

func TestParseNetworkConfigRejects(t *testing.T) {
	for name, tc := range map[string]struct{ doc, want string }{
		"version 1":   {"version: 1\nconfig: []\n", "version 1 is not supported"},
		"no version":  {"ethernets: {}\n", "version 0 is not supported"},
		"bad MAC":     {"version: 2\nethernets:\n  eth0:\n    match: {macaddress: zz}\n", "macaddress"},
		"bad address": {"version: 2\nethernets:\n  eth0:\n    addresses: [10.5.0.2]\n", "not in CIDR form"},
		"bad gateway": {"version: 2\nethernets:\n  eth0:\n    gateway4: ten\n", `gateway "ten"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := parseNetworkConfig([]byte(tc.doc))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
