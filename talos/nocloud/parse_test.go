package nocloud

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseMetaData(t *testing.T) {
	m, err := ParseMetaData([]byte("instance-id: cp-1\nlocal-hostname: cp-1\nhostname: other\npublic-keys: []\n"))
	require.NoError(t, err)
	assert.Equal(t, "cp-1", m.InstanceID)
	assert.Equal(t, "cp-1", m.Name(), "local-hostname wins")

	m, err = ParseMetaData([]byte("hostname: cp-2\n"))
	require.NoError(t, err)
	assert.Equal(t, "cp-2", m.Name())

	_, err = ParseMetaData([]byte("hostname: [unclosed"))
	assert.ErrorContains(t, err, "parse meta-data")
}

const labNetworkConfig = `version: 2
ethernets:
  eth0:
    match:
      macaddress: "52:54:00:12:34:56"
    addresses: [10.5.0.2/24]
    gateway4: 10.5.0.1
    dhcp4: false
    nameservers:
      addresses: [1.1.1.1, 8.8.8.8]
      search: [lab]
`

func TestParse(t *testing.T) {
	for name, doc := range map[string]string{
		"bare":    labNetworkConfig,
		"wrapped": "network:\n" + indent(labNetworkConfig),
	} {
		t.Run(name, func(t *testing.T) {
			s, err := Parse(Files{
				MetaData:      []byte("local-hostname: cp-1\n"),
				NetworkConfig: []byte(doc),
				UserData:      []byte("version: v1alpha1\n"),
			})
			require.NoError(t, err)
			assert.Equal(t, "cp-1", s.MetaData.Name())
			assert.Equal(t, "version: v1alpha1\n", string(s.UserData))
			require.Len(t, s.Interfaces, 1)

			iface := s.Interfaces[0]
			assert.Equal(t, "eth0", iface.ID)
			assert.Equal(t, "52:54:00:12:34:56", iface.MAC.String())
			assert.Empty(t, iface.Name, "matched by MAC, not by name")
			assert.Equal(t, []netip.Prefix{netip.MustParsePrefix("10.5.0.2/24")}, iface.Addresses)
			assert.Equal(t, netip.MustParseAddr("10.5.0.1"), iface.Gateway)
			assert.Equal(t, []netip.Addr{netip.MustParseAddr("1.1.1.1"), netip.MustParseAddr("8.8.8.8")}, iface.Nameservers)
		})
	}
}

func TestParseDefaultRouteAndName(t *testing.T) {
	nc, err := ParseNetworkConfig([]byte(`version: 2
ethernets:
  enp0s2:
    addresses: [192.168.7.3/24]
    routes:
      - to: 10.0.0.0/8
        via: 192.168.7.254
      - to: default
        via: 192.168.7.1
  lab:
    match: {name: ens3}
`))
	require.NoError(t, err)

	ifaces, err := nc.Interfaces()
	require.NoError(t, err)
	require.Len(t, ifaces, 2)
	assert.Nil(t, ifaces[0].MAC)
	assert.Equal(t, "enp0s2", ifaces[0].Name, "without a match the ID names the link")
	assert.Equal(t, netip.MustParseAddr("192.168.7.1"), ifaces[0].Gateway)
	assert.Equal(t, "lab", ifaces[1].ID, "sorted by ID")
	assert.Equal(t, "ens3", ifaces[1].Name)
}

func TestParseRejects(t *testing.T) {
	for name, tc := range map[string]struct {
		files Files
		want  string
	}{
		"bad meta-data":  {Files{MetaData: []byte("hostname: [unclosed"), NetworkConfig: []byte(labNetworkConfig)}, "parse meta-data"},
		"no network":     {Files{MetaData: []byte("hostname: a\n")}, "parse network-config: the seed has none"},
		"bad YAML":       {network("version: [2\n"), "parse network-config: "},
		"version 1":      {network("version: 1\nconfig: []\n"), "version 1 is not supported: write version 2"},
		"no version":     {network("ethernets: {}\n"), "version 0 is not supported"},
		"bad MAC":        {network("version: 2\nethernets:\n  eth0:\n    match: {macaddress: zz}\n"), "ethernets.eth0: match.macaddress"},
		"bad address":    {network("version: 2\nethernets:\n  eth0:\n    addresses: [10.5.0.2]\n"), `address "10.5.0.2" is not in CIDR form`},
		"bad gateway":    {network("version: 2\nethernets:\n  eth0:\n    gateway4: ten\n"), `gateway "ten"`},
		"IPv6 gateway4":  {network("version: 2\nethernets:\n  eth0:\n    gateway4: fd00::1\n"), "gateway4 takes an IPv4 address"},
		"bad route":      {network("version: 2\nethernets:\n  eth0:\n    routes: [{to: default, via: x}]\n"), `gateway "x" (routes, to default)`},
		"bad nameserver": {network("version: 2\nethernets:\n  eth0:\n    nameservers: {addresses: [dns]}\n"), `nameserver "dns"`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Parse(tc.files)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
		})
	}
}

func network(doc string) Files {
	return Files{MetaData: []byte("hostname: a\n"), NetworkConfig: []byte(doc)}
}

func indent(s string) string {
	return "  " + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n  ") + "\n"
}
