//go:build integration

package twinimage

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kdomanski/iso9660"
	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/talos/flows"
	"github.com/cozylab/cozylab/talos/machineconfig"
)

// guestMemoryMiB is the test guest's memory. The kernel holds the initramfs (≈575 MiB) twice
// while it unpacks it — QEMU's copy and the unpacked files — and the unpacked files stay in RAM
// (≈700 MiB of the root tmpfs). Measured with virtio-balloon statistics once the agent had
// started etcd, kube-apiserver, containerd, kube-controller-manager, kube-scheduler, the
// kubelet and kube-proxy: 2048 MiB left about 760 MiB available.
const guestMemoryMiB = 2048

// Under QEMU's user network the guest is 10.0.2.15 behind the gateway 10.0.2.2.
const (
	guestMAC  = "52:54:00:12:34:56"
	guestAddr = "10.0.2.15"
)

func TestTwinGuestBoots(t *testing.T) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	require.NoError(t, err, "qemu-system-x86_64 is missing: run `apt-get install qemu-system-x86`")

	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()

	kernel, initrd, err := Build(ctx, nodeOptions(ctx, t))
	require.NoError(t, err)

	dir := t.TempDir()
	res := generateConfig(t)
	seedPath := filepath.Join(dir, "seed.iso")
	writeSeed(t, seedPath, res.Nodes[0].Config)

	apiPort := freePort(t)
	serial, qmp, exited := startGuest(ctx, t, qemu, kernel, initrd, seedPath, apiPort)

	for _, want := range []string{
		"cozylab-twin: seed: found cidata on /dev/vd",
		"cozylab-twin: network: ",
		"up with [" + guestAddr + "/24]",
		"cozylab-twin: hostname: cp-1",
		"cozylab-twin: api: serving the Talos API on [::]:50000, secure",
	} {
		require.NoError(t, condition.Wait(ctx, serialLine(serial, want), condition.Poll{Interval: 500 * time.Millisecond, Timeout: 3 * time.Minute}, nil))
	}

	// Every module of the image loads: the guest has no modprobe to fetch one the kernel misses.
	boot, err := os.ReadFile(serial)
	require.NoError(t, err)
	assert.Regexp(t, `init: loaded \d+ kernel modules`, string(boot))
	assert.NotContains(t, string(boot), "load module ", "a module failed to load")

	c := guestClient(t, res.Talosconfig, apiPort)
	v, err := c.Version(ctx)
	require.NoError(t, err)
	assert.Equal(t, "nocloud", v.Messages[0].Platform.Name)
	assert.Equal(t, "cp-1", v.Messages[0].Metadata.Hostname)

	poll := condition.Poll{Interval: time.Second, Timeout: 3 * time.Minute, AttemptTimeout: 10 * time.Second}
	require.NoError(t, flows.Bootstrap(ctx, "cp-1", c, flows.BootstrapTiming{Ready: poll, Retry: flows.BootstrapPoll}, nil))
	require.NoError(t, condition.WaitAll(ctx, flows.ServicesHealthy("cp-1", c, "etcd", "kube-apiserver"), poll, nil))

	// QMP sees it running; the ACPI power button (what lab:down presses first) shuts the twin
	// down cleanly: the agent stops etcd and kube-apiserver, PID 1 powers off, QEMU exits.
	mon := vm.NewMonitor(qmp, 10*time.Second)
	status, err := mon.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "running", status)
	require.NoError(t, mon.Powerdown(ctx))
	select {
	case err := <-exited:
		require.NoError(t, err, "QEMU exits 0 when the guest powers off")
	case <-time.After(2 * time.Minute):
		t.Fatal("the twin did not power off within 2 minutes of the power button")
	}
	log, err := os.ReadFile(serial)
	require.NoError(t, err)
	for _, want := range []string{"init: power button pressed: shutting down", "power: power button: stopping etcd and kube-apiserver", "init: powering off"} {
		assert.Contains(t, string(log), want)
	}
}

// startGuest boots the twin under TCG with the seed on virtio-blk and the Talos API forwarded
// to 127.0.0.1:apiPort; it returns the serial log's path, the QMP socket and QEMU's exit.
// QEMU is killed when the test ends.
func startGuest(ctx context.Context, t *testing.T, qemu, kernel, initrd, seedPath string, apiPort int) (string, string, <-chan error) {
	t.Helper()

	tmp := t.TempDir()
	serial, qmp := filepath.Join(tmp, "serial.log"), filepath.Join(tmp, "qmp.sock")
	cmd := exec.CommandContext(ctx, qemu,
		"-machine", "q35", "-accel", "tcg", "-m", strconv.Itoa(guestMemoryMiB), "-smp", "2",
		"-kernel", kernel, "-initrd", initrd, "-append", "console=ttyS0 panic=-1",
		"-display", "none", "-monitor", "none", "-serial", "file:"+serial, "-no-reboot",
		"-device", "virtio-rng-pci",
		"-netdev", fmt.Sprintf("user,id=n0,hostfwd=tcp:127.0.0.1:%d-:50000", apiPort),
		"-device", "virtio-net-pci,netdev=n0,mac="+guestMAC,
		"-drive", "file="+seedPath+",if=virtio,format=raw,readonly=on",
		"-qmp", "unix:"+qmp+",server=on,wait=off",
	)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}

	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	exited := make(chan error, 1)
	done := make(chan struct{})
	go func() { exited <- cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // the guest has no state worth a graceful stop
		<-done
		if t.Failed() || testing.Verbose() {
			log, _ := os.ReadFile(serial)
			t.Logf("serial log:\n%s\nqemu stderr:\n%s", log, stderr.String())
		}
	})

	return serial, qmp, exited
}

// serialLine holds when the serial log contains want; a guest that gave up fails it at once.
func serialLine(path, want string) condition.Condition {
	return condition.Condition{
		Name: fmt.Sprintf("serial log shows %q", want),
		Check: func(context.Context) error {
			log, err := os.ReadFile(path)
			if err != nil {
				return err
			}

			if strings.Contains(string(log), "cozylab-twin: agent: ") && !strings.Contains(string(log), want) {
				if i := strings.LastIndex(string(log), "cozylab-twin: agent: "); !strings.HasPrefix(string(log[i:]), "cozylab-twin: agent: starting") {
					return condition.Permanent(fmt.Errorf("the agent failed: %s", strings.SplitN(string(log[i:]), "\n", 2)[0]))
				}
			}

			if !strings.Contains(string(log), want) {
				return fmt.Errorf("not among %d bytes of log", len(log))
			}

			return nil
		},
	}
}

func generateConfig(t *testing.T) *machineconfig.Result {
	t.Helper()

	bundle, err := machineconfig.LoadOrCreateSecrets(filepath.Join(t.TempDir(), "secrets.yaml"))
	require.NoError(t, err)

	mac, err := net.ParseMAC(guestMAC)
	require.NoError(t, err)

	res, err := machineconfig.Generate(machineconfig.Options{
		ClusterName: "twin-image",
		VIP:         netip.MustParseAddr("10.0.2.100"),
		Nodes:       []machineconfig.Node{{Name: "cp-1", Address: netip.MustParsePrefix(guestAddr + "/24"), MAC: mac}},
	}, bundle)
	require.NoError(t, err)

	return res
}

// writeSeed writes a NoCloud seed (iso9660, label cidata) for the guest.
func writeSeed(t *testing.T, path string, userData []byte) {
	t.Helper()

	w, err := iso9660.NewWriter()
	require.NoError(t, err)
	defer func() { require.NoError(t, w.Cleanup()) }()

	files := map[string]string{
		"meta-data": "instance-id: cp-1\nlocal-hostname: cp-1\n",
		"network-config": `version: 2
ethernets:
  lab:
    match:
      macaddress: "` + guestMAC + `"
    addresses: [` + guestAddr + `/24]
    gateway4: 10.0.2.2
    nameservers:
      addresses: [10.0.2.3]
`,
		"user-data": string(userData),
	}
	for name, data := range files {
		require.NoError(t, w.AddFile(strings.NewReader(data), name))
	}

	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, w.WriteTo(f, "cidata"))
	require.NoError(t, f.Close())
}

func freePort(t *testing.T) int {
	t.Helper()

	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()

	return l.Addr().(*net.TCPAddr).Port
}

// guestClient reaches the guest's API through QEMU's port forward, checking the server
// certificate against the guest's own address, which is what the certificate names.
func guestClient(t *testing.T, tc *clientconfig.Config, port int) *client.Client {
	t.Helper()

	ctxCfg := tc.Contexts[tc.Context]
	decode := func(s string) []byte {
		b, err := base64.StdEncoding.DecodeString(s)
		require.NoError(t, err)

		return b
	}

	pair, err := tls.X509KeyPair(decode(ctxCfg.Crt), decode(ctxCfg.Key))
	require.NoError(t, err)

	pool := x509.NewCertPool()
	require.True(t, pool.AppendCertsFromPEM(decode(ctxCfg.CA)))

	c, err := client.New(t.Context(), client.WithEndpoints(fmt.Sprintf("127.0.0.1:%d", port)),
		client.WithTLSConfig(&tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: pool, ServerName: guestAddr}))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close()) })

	return c
}
