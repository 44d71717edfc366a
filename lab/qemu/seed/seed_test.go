package seed

import (
	"bytes"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"

	"github.com/kdomanski/iso9660"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/talos/nocloud"
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

// readISO reads the seed files back from an image as a NoCloud reader finds them: on the
// volume labelled cidata, by name at its root.
func readISO(t *testing.T, r io.ReaderAt) nocloud.Files {
	t.Helper()
	img, err := iso9660.OpenImage(r)
	require.NoError(t, err)
	label, err := img.Label()
	require.NoError(t, err)
	require.Equal(t, nocloud.VolumeLabel, label)
	root, err := img.RootDir()
	require.NoError(t, err)
	children, err := root.GetChildren()
	require.NoError(t, err)
	var files nocloud.Files
	dst := map[string]*[]byte{
		nocloud.MetaDataFile:      &files.MetaData,
		nocloud.NetworkConfigFile: &files.NetworkConfig,
		nocloud.UserDataFile:      &files.UserData,
	}
	for _, f := range children {
		p, ok := dst[f.Name()]
		require.True(t, ok, "unexpected file %s in the seed", f.Name())
		*p, err = io.ReadAll(f.Reader())
		require.NoError(t, err)
	}
	return files
}

// readFile reads the seed files back from the image at path.
func readFile(t *testing.T, path string) nocloud.Files {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer func() { require.NoError(t, f.Close()) }()
	return readISO(t, f)
}

// What WriteFile puts on the image, nocloud.Parse reads back as the same config.
func TestWriteFileThenParseRoundTrips(t *testing.T) {
	for name, mutate := range map[string]func(*Config){
		"full":                     func(*Config) {},
		"no gateway or nameserver": func(c *Config) { c.Gateway, c.Nameservers = netip.Addr{}, nil },
	} {
		t.Run(name, func(t *testing.T) {
			c := testConfig(t)
			mutate(&c)
			path := filepath.Join(t.TempDir(), "seed.iso")
			require.NoError(t, WriteFile(path, c))

			files := readFile(t, path)
			rendered, err := nocloud.Render(c)
			require.NoError(t, err)
			assert.Equal(t, rendered, files, "the image holds the rendered files byte for byte")

			s, err := nocloud.Parse(files)
			require.NoError(t, err)
			require.Len(t, s.Interfaces, 1)
			iface := s.Interfaces[0]
			require.Len(t, iface.Addresses, 1)
			assert.Equal(t, c, Config{
				InstanceID: s.MetaData.InstanceID, Hostname: s.MetaData.Name(),
				MAC: iface.MAC, Address: iface.Addresses[0], Gateway: iface.Gateway, Nameservers: iface.Nameservers,
				UserData: s.UserData,
			})
		})
	}
}

func TestImageLayoutIsWhatTalosReads(t *testing.T) {
	files, err := nocloud.Render(testConfig(t))
	require.NoError(t, err)
	var buf bytes.Buffer
	require.NoError(t, Write(&buf, files))
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

func TestWriteFileRejectsBadInput(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.iso")
	err := WriteFile(path, Config{Gateway: netip.MustParseAddr("fd00::1")})
	require.Error(t, err)
	for _, want := range []string{"hostname is empty", "MAC", "address is not set", "gateway fd00::1 is not IPv4"} {
		assert.Contains(t, err.Error(), want)
	}
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Empty(t, entries, "nothing written for a bad config")
}

func TestWriteFileIsPrivateAndComplete(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seed.iso")
	require.NoError(t, os.WriteFile(path, []byte("an older seed"), 0o600))
	require.NoError(t, WriteFile(path, testConfig(t)))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.Equal(t, testConfig(t).UserData, readFile(t, path).UserData)
	entries, err := os.ReadDir(filepath.Dir(path))
	require.NoError(t, err)
	assert.Len(t, entries, 1, "no temporary file left")
}
