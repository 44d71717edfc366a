package nocloud

import (
	"net"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testConfig(t *testing.T) Config {
	t.Helper()

	mac, err := net.ParseMAC("52:54:00:12:34:56")
	require.NoError(t, err)

	return Config{
		InstanceID:  "lab1-node-1",
		Hostname:    "node-1",
		MAC:         mac,
		Address:     netip.MustParsePrefix("10.5.0.2/24"),
		Gateway:     netip.MustParseAddr("10.5.0.1"),
		Nameservers: []netip.Addr{netip.MustParseAddr("10.5.0.1"), netip.MustParseAddr("1.1.1.1")},
		UserData:    []byte("version: v1alpha1\nmachine:\n  type: controlplane\n---\napiVersion: v1alpha1\nkind: HostnameConfig\n"),
	}
}

func TestRenderLayout(t *testing.T) {
	files, err := Render(testConfig(t))
	require.NoError(t, err)
	assert.Equal(t, "hostname: node-1\ninstance-id: lab1-node-1\nlocal-hostname: node-1\n", string(files.MetaData))
	assert.Equal(t, "ethernets:\n  eth0:\n    addresses:\n    - 10.5.0.2/24\n    gateway4: 10.5.0.1\n    match:\n      macaddress: \"52:54:00:12:34:56\"\n"+
		"    nameservers:\n      addresses:\n      - 10.5.0.1\n      - 1.1.1.1\n    set-name: eth0\nversion: 2\n", string(files.NetworkConfig))
	assert.Equal(t, testConfig(t).UserData, files.UserData, "user-data is the machine config byte for byte")
}

func TestRenderLeavesOutEmptyGatewayAndNameservers(t *testing.T) {
	c := testConfig(t)
	c.InstanceID = ""
	c.Nameservers = nil
	c.Gateway = netip.Addr{}

	files, err := Render(c)
	require.NoError(t, err)
	assert.Equal(t, "hostname: node-1\ninstance-id: node-1\nlocal-hostname: node-1\n", string(files.MetaData), "instance-id defaults to the hostname")
	assert.Equal(t, "ethernets:\n  eth0:\n    addresses:\n    - 10.5.0.2/24\n    match:\n      macaddress: \"52:54:00:12:34:56\"\n    set-name: eth0\nversion: 2\n",
		string(files.NetworkConfig))
}

func TestRenderRejectsBadInput(t *testing.T) {
	_, err := Render(Config{Gateway: netip.MustParseAddr("fd00::1"), Nameservers: []netip.Addr{{}}})
	require.Error(t, err)

	for _, want := range []string{"hostname is empty", "MAC", "address is not set", "gateway fd00::1 is not IPv4", "nameserver 0 is not set"} {
		assert.Contains(t, err.Error(), want)
	}
}

// What Render writes, Parse reads back as the same config.
func TestRenderThenParseRoundTrips(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"full":                     func(*Config) {},
		"no gateway or nameserver": func(c *Config) { c.Gateway, c.Nameservers = netip.Addr{}, nil },
		"no user-data":             func(c *Config) { c.UserData = nil },
	} {
		t.Run(name, func(t *testing.T) {
			c := testConfig(t)
			mutate(&c)

			files, err := Render(c)
			require.NoError(t, err)

			s, err := Parse(files)
			require.NoError(t, err)
			assert.Equal(t, c.MetaData(), s.MetaData)
			assert.Equal(t, c, configOf(t, s))
		})
	}
}

// configOf turns a parsed lab seed (one NIC matched by MAC with one address) back into a Config.
func configOf(t *testing.T, s Seed) Config {
	t.Helper()
	require.Len(t, s.Interfaces, 1)

	iface := s.Interfaces[0]
	assert.Equal(t, InterfaceName, iface.ID)
	require.Len(t, iface.Addresses, 1)

	return Config{
		InstanceID: s.MetaData.InstanceID, Hostname: s.MetaData.Name(),
		MAC: iface.MAC, Address: iface.Addresses[0], Gateway: iface.Gateway, Nameservers: iface.Nameservers,
		UserData: s.UserData,
	}
}
