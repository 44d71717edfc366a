//go:build integration

package vm

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/qemu/seed"
)

// guestKernel finds the Debian kernel the test guests boot, or fails saying how to get one.
func guestKernel(t *testing.T) string {
	_, err := exec.LookPath(Binary)
	require.NoError(t, err, "qemu-system-x86_64 is missing: apt-get install qemu-system-x86 linux-image-amd64")
	kernels, _ := filepath.Glob("/boot/vmlinuz-*")
	require.NotEmpty(t, kernels, "no guest kernel in /boot: apt-get install qemu-system-x86 linux-image-amd64")
	sort.Strings(kernels)
	return kernels[len(kernels)-1]
}

// tcgSpec is a TCG guest booting the tiny initramfs with a seed and a sparse data disk.
func tcgSpec(t *testing.T, dir string) Spec {
	initrd := filepath.Join(dir, "initramfs.cpio")
	require.NoError(t, writeTinyInitramfsFile(initrd))
	seedPath := filepath.Join(dir, "seed.iso")
	require.NoError(t, seed.WriteFile(seedPath, seed.Config{
		Hostname: "vmtest", MAC: MAC("vmtest", "node-1"), Address: netip.MustParsePrefix("10.99.0.2/24"),
		UserData: []byte("machine: {}\n"),
	}))
	data := filepath.Join(dir, "data.raw")
	f, err := os.Create(data)
	require.NoError(t, err)
	require.NoError(t, f.Truncate(64<<20))
	require.NoError(t, f.Close())
	return Spec{
		Name: "vmtest", MemoryMiB: 256, CPUs: 1, Accel: TCG,
		Kernel: guestKernel(t), Initrd: initrd, Append: "console=ttyS0 panic=-1",
		DataDisk: data, Seed: seedPath,
		SerialLog: filepath.Join(dir, "serial.log"), QMPSocket: filepath.Join(dir, "qmp.sock"),
		Pidfile: filepath.Join(dir, "qemu.pid"),
	}
}

func newGroup(t *testing.T) *process.Group {
	g, err := process.NewGroup(filepath.Join(t.TempDir(), "run"))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, g.Stop(context.Background())) })
	return g
}

// markers counts the tiny init's lines in the serial log.
func markers(t *testing.T, spec Spec) int {
	raw, err := os.ReadFile(spec.SerialLog)
	if os.IsNotExist(err) {
		return 0
	}
	require.NoError(t, err)
	return strings.Count(string(raw), UserspaceMarker)
}

// noQEMUUnder asserts no QEMU whose command line mentions dir is left.
func noQEMUUnder(t *testing.T, dir string) {
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !process.Alive(pid) {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(cmdline), Binary) && strings.Contains(string(cmdline), dir) {
			t.Errorf("QEMU %d is left running: %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
}

func TestTCGGuestBootsAnswersQMPAndStops(t *testing.T) {
	dir := t.TempDir()
	spec := tcgSpec(t, dir)
	rec := &progress.Recorder{}
	m, err := Start(context.Background(), spec, Options{Group: newGroup(t), Progress: rec, PowerdownTimeout: 2 * time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { noQEMUUnder(t, dir) })

	require.Eventually(t, func() bool { return markers(t, spec) == 1 }, 90*time.Second, 200*time.Millisecond,
		"the tiny init's marker in %s", spec.SerialLog)
	status, err := m.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "running", status)
	pidfile, err := os.ReadFile(spec.Pidfile)
	require.NoError(t, err)
	assert.Equal(t, strconv.Itoa(m.Pid()), strings.TrimSpace(string(pidfile)))

	pid := m.Pid()
	// The tiny init has no ACPI handler: Stop goes on to QMP quit.
	require.NoError(t, m.Stop(context.Background()))
	assert.NoError(t, m.Err())
	assert.False(t, process.Alive(pid))
	assert.NoFileExists(t, spec.Pidfile, "QEMU removes its pidfile when it exits")
	assert.Contains(t, rec.Statuses("Stopping VM vmtest"), "guest ignored the power button for 2s; quitting QEMU")
}

// The NIC argv works against a real tap: QEMU attaches to it and the guest boots.
func TestGuestOnATap(t *testing.T) {
	dir := t.TempDir()
	spec := tcgSpec(t, dir)
	tap := &netlink.Tuntap{LinkAttrs: netlink.LinkAttrs{Name: fmt.Sprintf("cvmt%d", os.Getpid()%100000)}, Mode: netlink.TUNTAP_MODE_TAP}
	require.NoError(t, netlink.LinkAdd(tap), "create a tap (needs root)")
	t.Cleanup(func() { assert.NoError(t, netlink.LinkDel(tap)) })
	require.NoError(t, netlink.LinkSetUp(tap))
	spec.NIC = &NIC{Tap: tap.Name, MAC: MAC("vmtest", "node-1")}

	m, err := Start(context.Background(), spec, Options{Group: newGroup(t), PowerdownTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { noQEMUUnder(t, dir) })
	require.Eventually(t, func() bool { return markers(t, spec) == 1 }, 90*time.Second, 200*time.Millisecond)
	carrier, err := os.ReadFile("/sys/class/net/" + tap.Name + "/carrier")
	require.NoError(t, err)
	assert.Equal(t, "1\n", string(carrier), "QEMU holds the tap open")
	require.NoError(t, m.Stop(context.Background()))
}

func TestResetRestartsQEMUAndKillIsACrash(t *testing.T) {
	dir := t.TempDir()
	spec := tcgSpec(t, dir)
	m, err := Start(context.Background(), spec, Options{Group: newGroup(t), PowerdownTimeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { noQEMUUnder(t, dir) })
	require.Eventually(t, func() bool { return markers(t, spec) == 1 }, 90*time.Second, 200*time.Millisecond)

	first := m.Pid()
	require.NoError(t, m.QMP().Reset(context.Background()))
	require.Eventually(t, func() bool { return m.Reboots() == 1 && markers(t, spec) == 2 }, 90*time.Second, 200*time.Millisecond,
		"QEMU restarted after the reset and the guest booted again (serial log appended)")
	assert.NotEqual(t, first, m.Pid())
	assert.False(t, process.Alive(first))

	require.NoError(t, syscall.Kill(m.Pid(), syscall.SIGKILL))
	<-m.Done()
	assert.ErrorContains(t, m.Err(), "crashed")
	assert.Equal(t, 1, m.Reboots(), "a crash is not restarted")
}

func TestStopFromPidfileStopsAnOrphanedQEMU(t *testing.T) {
	dir := t.TempDir()
	spec := tcgSpec(t, dir)
	// QEMU started without a Machine, as a harness that died would leave it.
	proc, err := newGroup(t).Start(process.Spec{Name: spec.Name, Path: Binary, Args: Args(spec)})
	require.NoError(t, err)
	t.Cleanup(func() { noQEMUUnder(t, dir) })
	require.Eventually(t, func() bool { return markers(t, spec) == 1 }, 90*time.Second, 200*time.Millisecond)

	require.NoError(t, StopFromPidfile(context.Background(), spec, Options{PowerdownTimeout: time.Second}))
	<-proc.Exited()
	assert.NoFileExists(t, spec.Pidfile)
}

// On this machine KVM does not run guests, on a KVM host it does: either way the probe ends
// within its bound and says why.
func TestProbeKVMAnswersWithinItsBound(t *testing.T) {
	kernel := guestKernel(t)
	start := time.Now()
	ok, why := ProbeKVM(context.Background(), kernel, "")
	t.Logf("KVM usable: %v (%s)", ok, why)
	assert.NotEmpty(t, why)
	assert.NotContains(t, why, "\n", "one line")
	assert.Less(t, time.Since(start), 2*ProbeTimeout, "the probe is bounded by ProbeTimeout")
}
