package seed

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdomanski/iso9660"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func testConfig(t *testing.T) Config {
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

func TestWriteThenReadRoundTrips(t *testing.T) {
	c := testConfig(t)
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, c))

	files, err := Read(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, c.UserData, files.UserData)

	meta, err := ParseMetaData(files.MetaData)
	require.NoError(t, err)
	assert.Equal(t, MetaData{InstanceID: "lab1-node-1", LocalHostname: "node-1", Hostname: "node-1"}, meta)

	network, err := ParseNetworkConfig(files.NetworkConfig)
	require.NoError(t, err)
	assert.Equal(t, NetworkConfig{Version: 2, Ethernets: map[string]Ethernet{"eth0": {
		Match:       Match{MACAddress: "52:54:00:12:34:56"},
		SetName:     "eth0",
		Addresses:   []string{"10.5.0.2/24"},
		Gateway4:    "10.5.0.1",
		Nameservers: &Nameservers{Addresses: []string{"10.5.0.1", "1.1.1.1"}},
	}}}, network)
}

func TestImageLayoutIsWhatTalosReads(t *testing.T) {
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, testConfig(t)))
	img, err := iso9660.OpenImage(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	label, err := img.Label()
	require.NoError(t, err)
	assert.Equal(t, "cidata", label)
	root, err := img.RootDir()
	require.NoError(t, err)
	children, err := root.GetChildren()
	require.NoError(t, err)
	var names []string
	for _, c := range children {
		names = append(names, c.Name())
	}
	assert.ElementsMatch(t, []string{"meta-data", "network-config", "user-data"}, names)
}

func TestNetworkConfigYAMLShape(t *testing.T) {
	c := testConfig(t)
	c.Nameservers = nil
	c.Gateway = netip.Addr{}
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, c))
	files, err := Read(bytes.NewReader(buf.Bytes()))
	require.NoError(t, err)
	assert.Equal(t, "ethernets:\n  eth0:\n    addresses:\n    - 10.5.0.2/24\n    match:\n      macaddress: \"52:54:00:12:34:56\"\n    set-name: eth0\nversion: 2\n",
		string(files.NetworkConfig))
}

func TestWriteRejectsBadInput(t *testing.T) {
	err := Write(&bytes.Buffer{}, Config{Gateway: netip.MustParseAddr("fd00::1")})
	require.Error(t, err)
	for _, want := range []string{"hostname is empty", "MAC", "address is not set", "gateway fd00::1 is not IPv4"} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestReadRejectsOtherLabel(t *testing.T) {
	iw, err := iso9660.NewWriter()
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, iw.Cleanup()) })
	require.NoError(t, iw.AddFile(bytes.NewReader([]byte("x")), "user-data"))
	var buf bytes.Buffer
	require.NoError(t, iw.WriteTo(&buf, "other"))
	_, err = Read(bytes.NewReader(buf.Bytes()))
	assert.ErrorContains(t, err, `volume label is "other"`)
}

func TestWriteFileIsPrivateAndComplete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.iso")
	require.NoError(t, WriteFile(path, testConfig(t)))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	files, err := Read(f)
	require.NoError(t, err)
	assert.Equal(t, testConfig(t).UserData, files.UserData)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")
}
