package machineconfig_test

import (
	"flag"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/talos/machineconfig"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// fixedSecretsPath holds a bundle checked into testdata so generated configs are deterministic.
const fixedSecretsPath = "testdata/secrets.yaml"

// fixedSecrets loads the checked-in bundle; with -update it creates it first when missing.
func fixedSecrets(t *testing.T) *secrets.Bundle {
	t.Helper()

	if _, err := os.Stat(fixedSecretsPath); os.IsNotExist(err) && *update {
		b, err := secrets.NewBundle(secrets.NewFixedClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)),
			config.TalosVersionCurrent)
		require.NoError(t, err)
		require.NoError(t, machineconfig.SaveSecrets(fixedSecretsPath, b))
	}

	b, err := machineconfig.LoadSecrets(fixedSecretsPath)
	require.NoError(t, err, "run go test ./talos/machineconfig -update to create %s", fixedSecretsPath)

	return b
}

func mustMAC(t *testing.T, s string) net.HardwareAddr {
	t.Helper()

	mac, err := net.ParseMAC(s)
	require.NoError(t, err)

	return mac
}

// labOptions is a three-node cluster like the lab's.
func labOptions(t *testing.T) machineconfig.Options {
	t.Helper()

	return machineconfig.Options{
		ClusterName: "cozylab",
		VIP:         netip.MustParseAddr("10.5.0.10"),
		Nodes: []machineconfig.Node{
			{Name: "cp-1", Address: netip.MustParsePrefix("10.5.0.11/24"), MAC: mustMAC(t, "52:54:00:00:05:11")},
			{Name: "cp-2", Address: netip.MustParsePrefix("10.5.0.12/24"), MAC: mustMAC(t, "52:54:00:00:05:12")},
			{Name: "cp-3", Address: netip.MustParsePrefix("10.5.0.13/24"), MAC: mustMAC(t, "52:54:00:00:05:13")},
		},
		InstallImage: "ghcr.io/siderolabs/installer:v1.13.6",
		Patches: [][]byte{[]byte(`cluster:
  network:
    cni:
      name: none
  proxy:
    disabled: true
`)},
	}
}

// assertGolden compares got with testdata/<name>.golden.yaml, rewriting it with -update.
func assertGolden(t *testing.T, name string, got []byte) {
	t.Helper()

	path := filepath.Join("testdata", name+".golden.yaml")

	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}

	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./talos/machineconfig -update to create %s", path)
	assert.Equal(t, string(want), string(got), "config differs from %s; run with -update if the change is intended", path)
}
