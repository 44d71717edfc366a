package main

import (
	"bytes"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kdomanski/iso9660"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/talos/nocloud"
)

// writeISO writes an iso9660 image with files under label to path.
func writeISO(t *testing.T, path, label string, files map[string]string) {
	t.Helper()

	w, err := iso9660.NewWriter()
	require.NoError(t, err)

	defer func() { require.NoError(t, w.Cleanup()) }()

	for name, data := range files {
		require.NoError(t, w.AddFile(bytes.NewReader([]byte(data)), name))
	}

	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, w.WriteTo(f, label))
	require.NoError(t, f.Close())
}

func TestFindSeed(t *testing.T) {
	root := t.TempDir()
	sysBlock, dev := filepath.Join(root, "sys"), filepath.Join(root, "dev")

	for _, name := range []string{"vda", "vdb", "sr0"} {
		require.NoError(t, os.MkdirAll(filepath.Join(sysBlock, name), 0o755))
	}

	require.NoError(t, os.MkdirAll(dev, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dev, "vda"), make([]byte, 64*1024), 0o600))
	writeISO(t, filepath.Join(dev, "vdb"), "other", map[string]string{"meta-data": "hostname: wrong\n"})
	writeISO(t, filepath.Join(dev, "sr0"), "cidata", map[string]string{
		"meta-data": "local-hostname: cp-1\n", "network-config": "version: 2\n", "user-data": "version: v1alpha1\n",
	})

	s, err := findSeed(t.Context(), sysBlock, dev, time.Second)
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(dev, "sr0"), s.Device)
	assert.Equal(t, "local-hostname: cp-1\n", string(s.MetaData))
	assert.Equal(t, "version: 2\n", string(s.NetworkConfig))
	assert.Equal(t, "version: v1alpha1\n", string(s.UserData))
}

func TestFindSeedGivesUp(t *testing.T) {
	root := t.TempDir()
	require.NoError(t, os.MkdirAll(filepath.Join(root, "sys", "vda"), 0o755))

	_, err := findSeed(t.Context(), filepath.Join(root, "sys"), filepath.Join(root, "dev"), 600*time.Millisecond)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "devices: vda")
}

// The twin finds and parses a seed rendered by talos/nocloud, as the lab writes it.
func TestReadSeedParsesARenderedSeed(t *testing.T) {
	mac, err := net.ParseMAC("52:54:00:12:34:56")
	require.NoError(t, err)

	c := nocloud.Config{
		InstanceID: "lab1-node-1", Hostname: "node-1", MAC: mac,
		Address: netip.MustParsePrefix("10.5.0.2/24"), Gateway: netip.MustParseAddr("10.5.0.1"),
		Nameservers: []netip.Addr{netip.MustParseAddr("10.5.0.1")},
		UserData:    []byte("version: v1alpha1\n"),
	}
	files, err := nocloud.Render(c)
	require.NoError(t, err)

	dev := filepath.Join(t.TempDir(), "vdb")
	writeISO(t, dev, nocloud.VolumeLabel, map[string]string{
		nocloud.MetaDataFile: string(files.MetaData), nocloud.NetworkConfigFile: string(files.NetworkConfig),
		nocloud.UserDataFile: string(files.UserData),
	})

	s, err := readSeed(dev)
	require.NoError(t, err)
	assert.Equal(t, files, s.Files)

	nc, err := nocloud.Parse(s.Files)
	require.NoError(t, err)
	assert.Equal(t, "node-1", nc.MetaData.Name())
	assert.Equal(t, []nocloud.Interface{{
		ID: "eth0", MAC: mac, Addresses: []netip.Prefix{c.Address}, Gateway: c.Gateway, Nameservers: c.Nameservers,
	}}, nc.Interfaces)
	assert.Equal(t, c.UserData, nc.UserData)
}

func TestReadSeedFoldsPlainISONames(t *testing.T) {
	dev := filepath.Join(t.TempDir(), "sr0")
	writeISO(t, dev, "CIDATA", map[string]string{"META_DATA": "hostname: cp-1\n", "USER_DATA": "version: v1alpha1\n"})

	s, err := readSeed(dev)
	require.NoError(t, err)
	assert.Equal(t, "hostname: cp-1\n", string(s.MetaData))
	assert.Equal(t, "version: v1alpha1\n", string(s.UserData))
	assert.Nil(t, s.NetworkConfig)
}

func TestReadSeedRejects(t *testing.T) {
	dir := t.TempDir()
	other, noMeta := filepath.Join(dir, "vdb"), filepath.Join(dir, "vdc")
	writeISO(t, other, "other", map[string]string{"user-data": "x"})
	writeISO(t, noMeta, "cidata", map[string]string{"user-data": "x"})
	require.NoError(t, os.WriteFile(filepath.Join(dir, "vda"), make([]byte, 64*1024), 0o600))

	for dev, want := range map[string]string{
		other:                      `is labelled "other", not cidata`,
		noMeta:                     "has no meta-data",
		filepath.Join(dir, "vda"):  "read iso9660 on",
		filepath.Join(dir, "none"): "open",
	} {
		t.Run(filepath.Base(dev), func(t *testing.T) {
			_, err := readSeed(dev)
			require.Error(t, err)
			assert.Contains(t, err.Error(), want)
		})
	}
}
