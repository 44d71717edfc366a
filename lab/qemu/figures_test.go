package qemu

import (
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestVmHWM(t *testing.T) {
	status := "Name:\tqemu-system-x86\nVmPeak:\t 4398020 kB\nVmSize:\t 4300000 kB\nVmHWM:\t 2417856 kB\nVmRSS:\t 2201004 kB\n"
	got, err := vmHWM([]byte(status))
	require.NoError(t, err)
	assert.Equal(t, uint64(2417856)<<10, got)

	_, err = vmHWM([]byte("Name:\tkthreadd\nState:\tS (sleeping)\n"))
	assert.ErrorContains(t, err, "no VmHWM line")
	_, err = vmHWM([]byte("VmHWM:\t12 MB\n"))
	assert.ErrorContains(t, err, "unit is not kB")
	_, err = vmHWM([]byte("VmHWM:\tlots kB\n"))
	assert.Error(t, err)

	// This process's own status parses: the format is the kernel's.
	raw, err := os.ReadFile("/proc/self/status")
	require.NoError(t, err)
	own, err := vmHWM(raw)
	require.NoError(t, err)
	assert.Positive(t, own)
}

func TestGuestPeaksOfALabWithoutVMs(t *testing.T) {
	p, _ := qtest(t)
	peaks, err := p.GuestPeaks()
	require.NoError(t, err)
	assert.Empty(t, peaks, "no pidfile, no guest")
}
