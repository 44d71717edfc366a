package vm

import (
	"flag"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

func diskSpec() Spec {
	return Spec{
		Name: "lab1-node-1", MemoryMiB: 4096, CPUs: 2, Accel: KVM,
		Disk: "/var/lab/lab1/node-1/disk.raw", DataDisk: "/var/lab/lab1/node-1/data.raw",
		Seed:      "/var/lab/lab1/node-1/seed.iso",
		NIC:       &NIC{Tap: "cl1tap0", MAC: net.HardwareAddr{0x02, 0x11, 0x22, 0x33, 0x44, 0x55}},
		SerialLog: "/var/lab/lab1/node-1/serial.log", QMPSocket: "/var/lab/lab1/node-1/qmp.sock",
		Pidfile: "/var/lab/lab1/node-1/qemu.pid",
	}
}

func kernelSpec() Spec {
	return Spec{
		Name: "lab1-node-2", MemoryMiB: 2048, CPUs: 2, Accel: TCG,
		Kernel: "/boot/vmlinuz", Initrd: "/var/lab/twin.cpio", Append: "console=ttyS0 panic=-1",
		Seed: "/var/lab/lab1/node-2/seed.iso", SerialLog: "/var/lab/lab1/node-2/serial.log",
		QMPSocket: "/var/lab/lab1/node-2/qmp.sock", Pidfile: "/var/lab/lab1/node-2/qemu.pid",
	}
}

// golden renders argv one option per line (an option and its value on one line).
func golden(t *testing.T, name string, args []string) {
	var b strings.Builder
	for i, a := range args {
		if i > 0 && strings.HasPrefix(a, "-") {
			b.WriteString("\n")
		} else if i > 0 {
			b.WriteString(" ")
		}
		b.WriteString(a)
	}
	b.WriteString("\n")
	path := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, []byte(b.String()), 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create it")
	assert.Equal(t, string(want), b.String())
}

func TestArgsGolden(t *testing.T) {
	for name, s := range map[string]Spec{"args-disk-kvm": diskSpec(), "args-kernel-tcg": kernelSpec()} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, s.Validate())
			golden(t, name, Args(s))
		})
	}
}

func TestArgsOmitWhatIsNotSet(t *testing.T) {
	s := kernelSpec()
	s.Seed, s.SerialLog, s.QMPSocket, s.Pidfile, s.Initrd, s.Append = "", "", "", "", "", ""
	args := strings.Join(Args(s), " ")
	for _, absent := range []string{"-drive", "-netdev", "-serial", "-qmp", "-pidfile", "-initrd", "-append"} {
		assert.NotContains(t, args, absent)
	}
	assert.Contains(t, args, "-kernel /boot/vmlinuz")
}

func TestValidateSaysEverythingWrong(t *testing.T) {
	s := Spec{
		Name: "bad name", MemoryMiB: 8, Accel: "hvf", Disk: "disk.raw", Kernel: "/k",
		NIC:       &NIC{Tap: "t0"},
		QMPSocket: "/" + strings.Repeat("x", 120),
		Seed:      "/a,b",
	}
	err := s.Validate()
	require.Error(t, err)
	for _, want := range []string{
		`name "bad name"`, "memory 8 MiB", "CPU count 0", `accel "hvf"`, "exactly one of a boot disk and a kernel",
		"NIC needs a tap name and a 6-byte MAC", `path "disk.raw" is not absolute`, `path "/a,b" contains ','`,
		"too long for a unix socket",
	} {
		assert.Contains(t, err.Error(), want)
	}
}

func TestMACIsStableUnicastAndLocal(t *testing.T) {
	a := MAC("lab1", "node-1")
	assert.Equal(t, a, MAC("lab1", "node-1"))
	assert.NotEqual(t, a, MAC("lab1", "node-2"))
	assert.NotEqual(t, a, MAC("lab2", "node-1"))
	assert.NotEqual(t, MAC("lab1", "node-1x"), MAC("lab1n", "ode-1x"), "lab and node are kept apart")
	for _, m := range []net.HardwareAddr{a, MAC("x", "y"), MAC("", "")} {
		require.Len(t, m, 6)
		assert.Zero(t, m[0]&0x01, "unicast")
		assert.NotZero(t, m[0]&0x02, "locally administered")
	}
}
