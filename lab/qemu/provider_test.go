package qemu

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/daemon"
	"github.com/cozylab/cozylab/lab/qemu/network"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/lab/state"
)

func TestUnknownNodeImageIsRefused(t *testing.T) {
	err := Prerequisites("ubuntu")
	require.Error(t, err)
	assert.Equal(t, "LAB_NODE_IMAGE=ubuntu is not a node image: use twin (the default, boots anywhere) or talos (real Talos, for a KVM host)", err.Error())
	assert.NoError(t, checkNodeImage(""))
	assert.NoError(t, checkNodeImage("twin"))
	assert.NoError(t, checkNodeImage("talos"))
}

// Each missing prerequisite is one line naming what to do.
func TestPrerequisitesSayWhatToDo(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // no qemu-system-x86_64 on it
	err := Prerequisites("")
	require.Error(t, err)
	if os.Geteuid() != 0 {
		assert.Contains(t, err.Error(), "run it as root")
		return
	}
	assert.Equal(t, "the QEMU lab needs qemu-system-x86_64: run `apt-get install qemu-system-x86`", err.Error())
}

func TestFindKernelPicksTheNewestWithModules(t *testing.T) {
	boot, mods := t.TempDir(), t.TempDir()
	oldBoot, oldMods := bootDir, modulesDir
	bootDir, modulesDir = boot, mods
	t.Cleanup(func() { bootDir, modulesDir = oldBoot, oldMods })

	_, err := FindKernel()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "apt-get install linux-image-amd64")

	for _, v := range []string{"6.1.0-9-amd64", "6.1.0-56-amd64", "6.2.0-1-amd64"} {
		require.NoError(t, os.WriteFile(filepath.Join(boot, "vmlinuz-"+v), nil, 0o644))
	}
	for _, v := range []string{"6.1.0-9-amd64", "6.1.0-56-amd64"} { // 6.2 has no modules
		require.NoError(t, os.MkdirAll(filepath.Join(mods, v), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(mods, v, "modules.dep"), nil, 0o644))
	}
	k, err := FindKernel()
	require.NoError(t, err)
	assert.Equal(t, filepath.Join(boot, "vmlinuz-6.1.0-56-amd64"), k, "numeric order, and only kernels with modules")
}

func TestNodeSpecIsAValidTwinVM(t *testing.T) {
	plan := testPlan(t)
	dir := "/var/lib/labs/qtest"
	for i, name := range NodeNames(NodeCount) {
		spec := NodeSpec(dir, plan, i, Guest{Kernel: "/boot/vmlinuz", Initrd: "/cache/twin.cpio", Accel: vm.TCG})
		require.NoError(t, spec.Validate())
		assert.Equal(t, name, spec.Name)
		assert.Equal(t, plan.Nodes[i].Tap, spec.NIC.Tap)
		assert.Equal(t, vm.MAC("qtest", name), spec.NIC.MAC)
		assert.Equal(t, filepath.Join(dir, "nodes", name, "qemu.pid"), spec.Pidfile)
		args := vm.Args(spec)
		assert.Contains(t, args, "tcg")
		assert.Contains(t, args, "3072")
	}
}

func qtest(t *testing.T) (*Provider, *state.Store) {
	t.Helper()
	req := state.Request{Name: "qtest", Provider: ProviderName, QEMU: &state.QEMURequest{NodeImage: NodeImageTwin}}
	p := New(t.TempDir(), req)
	store, err := state.Create(p.Root, req)
	require.NoError(t, err)
	return p, store
}

func TestNetworkRecordRoundTrips(t *testing.T) {
	_, store := qtest(t)
	_, err := recordedPlan(store)
	require.Error(t, err, "no plan before setUpNetwork")

	plan := testPlan(t)
	require.NoError(t, state.UpdateFacts(store, func(f *facts) {
		f.Network, f.HostChanges = &plan, network.HostChanges{EnabledForwarding: true}
	}))
	reopened, err := state.Open(store.Root(), "qtest")
	require.NoError(t, err)
	got, err := recordedPlan(reopened)
	require.NoError(t, err)
	assert.Equal(t, plan, got)
	f, err := state.LoadFacts[facts](reopened)
	require.NoError(t, err)
	assert.True(t, f.HostChanges.EnabledForwarding)
}

func TestStatusOfAnAbsentLab(t *testing.T) {
	p := New(t.TempDir(), state.Request{Name: "qtest", Provider: ProviderName})
	st, err := p.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "absent", st.Phase)
	assert.Equal(t, filepath.Join(p.Root, "qtest", "kubeconfig"), p.Kubeconfig())
}

func TestStatusOfAPartialLabListsPlannedNodes(t *testing.T) {
	p, store := qtest(t)
	plan := testPlan(t)
	require.NoError(t, state.UpdateFacts(store, func(f *facts) { f.Network = &plan }))
	st, err := p.Status(context.Background())
	require.NoError(t, err)
	assert.Equal(t, "partial", st.Phase)
	require.Len(t, st.Nodes, 3)
	assert.Equal(t, "10.213.7.13", st.Nodes[2].Address)
	require.Len(t, st.Components, 4, "the daemon and three VMs")
	for _, c := range st.Components {
		assert.False(t, c.Running, c.Name)
	}
}

func TestCollectLogsCopiesSerialAndDaemonLogs(t *testing.T) {
	p, _ := qtest(t)
	serial := NodePaths(p.Dir(), "srv2").Serial
	require.NoError(t, os.MkdirAll(filepath.Dir(serial), 0o700))
	require.NoError(t, os.WriteFile(serial, []byte("cozylab-twin: agent: starting\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(p.Dir(), daemon.LogName), []byte("daemon\n"), 0o600))

	out := t.TempDir()
	require.NoError(t, p.CollectLogs(context.Background(), out))
	got, err := os.ReadFile(filepath.Join(out, "srv2-serial.log"))
	require.NoError(t, err)
	assert.Equal(t, "cozylab-twin: agent: starting\n", string(got))
	assert.FileExists(t, filepath.Join(out, "daemon.log"))
	assert.NoFileExists(t, filepath.Join(out, "srv1-serial.log"), "a node that never booted has no log")
}

// The service logs a failed lab:up saved are collected whatever the services were; a lab with
// no VM running is not asked for live ones.
func TestCollectLogsCopiesEverySavedServiceLog(t *testing.T) {
	p, store := qtest(t)
	plan := testPlan(t)
	require.NoError(t, state.UpdateFacts(store, func(f *facts) { f.Network = &plan }))
	require.NoError(t, os.WriteFile(filepath.Join(p.Dir(), "talosconfig"), []byte("context: qtest\n"), 0o600))
	dir := NodePaths(p.Dir(), "srv3").Dir
	require.NoError(t, os.MkdirAll(dir, 0o700))
	for _, svc := range []string{"etcd", "kubelet", "containerd"} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, svc+".log"), []byte(svc+" says\n"), 0o600))
	}

	out := t.TempDir()
	require.NoError(t, p.CollectLogs(context.Background(), out))
	for _, svc := range []string{"etcd", "kubelet", "containerd"} {
		got, err := os.ReadFile(filepath.Join(out, "srv3-"+svc+".log"))
		require.NoError(t, err, svc)
		assert.Equal(t, svc+" says\n", string(got))
	}
}

func TestConsoleFollowsTheSerialLog(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "serial.log")
	var out bytes.Buffer

	off, err := copyNew(log, -1, &out)
	require.NoError(t, err, "a log not there yet is waited for")
	assert.Equal(t, int64(-1), off)

	require.NoError(t, os.WriteFile(log, bytes.Repeat([]byte("x"), consoleBacklog+10), 0o600))
	off, err = copyNew(log, off, &out)
	require.NoError(t, err)
	assert.Equal(t, consoleBacklog, out.Len(), "only the backlog of an existing log")

	f, err := os.OpenFile(log, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("new line\n")
	require.NoError(t, err)
	require.NoError(t, f.Close())
	out.Reset()
	off, err = copyNew(log, off, &out)
	require.NoError(t, err)
	assert.Equal(t, "new line\n", out.String())

	require.NoError(t, os.WriteFile(log, []byte("restarted\n"), 0o600))
	out.Reset()
	_, err = copyNew(log, off, &out)
	require.NoError(t, err)
	assert.Equal(t, "restarted\n", out.String(), "a log that shrank is read from its start")
}

func TestConsoleRefusesAnUnknownNode(t *testing.T) {
	p, _ := qtest(t)
	err := p.Console(context.Background(), "node-9", &bytes.Buffer{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "srv1, srv2, srv3")
}

func TestSizeLineSaysWhatEachGuestGets(t *testing.T) {
	mem, cpus := NodeSize(NodeImageTwin)
	assert.Equal(t, "3 nodes × 3072 MiB, 1 vCPU each (9216 MiB of the host's 24 GiB), TCG",
		sizeLine(NodeCount, mem, cpus, 25276182528, "TCG"))
	assert.Equal(t, "3 nodes × 8192 MiB, 4 vCPUs each (24576 MiB of the host's 7.8 GiB: more than it has, lower LAB_NODE_MEMORY_MIB), KVM",
		sizeLine(NodeCount, TalosMemoryMiB, TalosCPUs, 8<<30-200<<20, "KVM"))
	assert.Equal(t, "3 nodes × 1024 MiB, 1 vCPU each (the host's memory unknown), TCG", sizeLine(NodeCount, 1024, 1, 0, "TCG"))
	assert.Positive(t, hostMemory())
}

// Seeds are kept only while they carry the configs generated now.
func TestKeepSeedsFollowsTheConfigs(t *testing.T) {
	p, store := qtest(t)
	plan := testPlan(t)
	l := &lab{store: store, Dir: p.Dir(), plan: plan, configs: labConfigs(t, NodeImageTwin)}
	require.NoError(t, l.writeSeeds(t.Context(), progress.Discard.Begin("")))
	require.NoError(t, l.keepSeeds(t.Context()))

	l.configs.Nodes[1].Config = append(l.configs.Nodes[1].Config, '\n')
	require.ErrorContains(t, l.keepSeeds(t.Context()), "the machine configs changed since the seeds were written")
}

func TestSlowdownUnderTCG(t *testing.T) {
	p, _ := qtest(t)
	assert.Equal(t, TCGSlowdown, p.Slowdown(), "a lab under TCG is slower")
	p.Request.QEMU.KVM = true
	assert.Equal(t, 1, p.Slowdown(), "a KVM lab runs at native pace")
}

// Guests the host has no memory for are refused before any boots, naming what they need and
// what is available; under TCG each also needs QEMU's translation cache.
func TestCheckMemoryRefusesGuestsTheHostCannotHold(t *testing.T) {
	meminfo := func(availMiB int) string {
		return fmt.Sprintf("MemTotal:       24683768 kB\nMemFree:         1000000 kB\nMemAvailable:   %8d kB\nBuffers:          2000 kB\n", availMiB<<10)
	}
	assert.NoError(t, checkMemory(meminfo(20000), 3, 3072, true))
	assert.NoError(t, checkMemory(meminfo(3*3072), 3, 3072, false), "under KVM the guests' memory is all")
	err := checkMemory(meminfo(3*3072), 3, 3072, true)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "they need 12288 MiB (3 × (3072 MiB + 1024 MiB of QEMU's TCG translation cache)), the host has 9216 MiB available")
	assert.Contains(t, err.Error(), "lab:down")
	assert.NoError(t, checkMemory("garbage", 3, 3072, true), "unreadable: nothing to check against")
	raw, err := os.ReadFile("/proc/meminfo")
	require.NoError(t, err)
	avail, ok := memAvailableMiB(string(raw))
	assert.True(t, ok)
	assert.Positive(t, avail)
}
