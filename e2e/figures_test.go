package e2e

import (
	"bytes"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestFiguresPrintGuestPeaks(t *testing.T) {
	f := Figures{LabUp: 4 * time.Minute, HarnessMemory: 300 << 20, LabMemory: 200 << 20,
		GuestPeaks: map[string]uint64{"srv2": 2388 << 20, "srv1": 2410 << 20, "srv3": 2350 << 20}}
	var out bytes.Buffer
	f.Print(&out, "qemu")
	assert.Contains(t, out.String(), "Guest peak memory: srv1 2410 MiB, srv2 2388 MiB, srv3 2350 MiB (each VM's peak resident set)\n")

	f.GuestPeaks = map[string]uint64{"srv1": 2410 << 20}
	f.GuestPeaksErr = errors.New("read the peak memory of VM srv2: gone")
	out.Reset()
	f.Print(&out, "qemu")
	assert.Contains(t, out.String(), "Guest peak memory: srv1 2410 MiB (each VM's peak resident set); not read: read the peak memory of VM srv2: gone\n")

	out.Reset()
	Figures{}.Print(&out, "local")
	assert.NotContains(t, out.String(), "Guest", "a lab without guests prints no guest line")
}
