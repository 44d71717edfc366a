package qemu

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/lab/qemu/network"
	"github.com/cozylab/cozylab/lab/qemu/talosimage"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/lab/state"
)

// NodeCount is how many control-plane nodes a lab has.
const NodeCount = 3

// Sizes of one twin: three of them fit a 2-core, 24 GiB host. A twin holds its initramfs
// (about 500 MB unpacked) in RAM, runs etcd, kube-apiserver, kube-controller-manager,
// kube-scheduler, containerd, the kubelet and kube-proxy, and its share of the platform's pods
// (Flux, the operator, CoreDNS, an echo app). The guests share the host's cores under TCG,
// and one vCPU each was measured faster than two on a 2-core host: the three labs' API
// servers came up in half the time at half the host load (six emulated vCPUs on two cores
// spend their time in cross-CPU synchronisation and in Go schedulers spinning for work).
const (
	NodeMemoryMiB = 3072
	NodeCPUs      = 1
)

// Sizes of one real Talos node: enough for a control plane that also runs the platform's
// workloads (upstream's lab gives each node 8 vCPUs and 24 GiB; a smaller host cannot).
const (
	TalosMemoryMiB = 8192
	TalosCPUs      = 4
)

// twinAppend is the twin guest's kernel command line: console on the serial log, and a kernel
// panic (the agent dying) ends QEMU instead of hanging. Under TCG the kernel finds the vCPUs'
// TSCs "unsynchronized" and falls back to the HPET, so every clock read of every Go program
// (their schedulers read the clock constantly) becomes a system call and an emulated device
// access; TCG's TSC comes from the host's clock and is consistent, so the guest is told to
// trust it and reads time in the vDSO. Mitigations against speculative execution protect
// nothing in an emulated CPU and cost every kernel entry.
const twinAppend = "console=ttyS0 panic=-1 tsc=reliable clocksource=tsc mitigations=off"

// twinPowerdown bounds the wait for the power button in Stop: the twin stops etcd and
// kube-apiserver and powers off in a few seconds even under TCG; it keeps nothing on disk, so
// QEMU is told to quit if it takes longer.
const twinPowerdown = 15 * time.Second

// talosPowerdown bounds the wait for a Talos node to shut down on the ACPI power button: it
// stops its services and unmounts its disks first.
const talosPowerdown = 30 * time.Second

// powerdownTimeout is how long Stop waits for a node of image to power itself off.
func powerdownTimeout(image string) time.Duration {
	if image == NodeImageTalos {
		return talosPowerdown
	}
	return twinPowerdown
}

// NodeNames are the nodes' names: srv1, srv2, ...
func NodeNames(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "srv" + strconv.Itoa(i+1)
	}
	return out
}

// Paths are where one node's files live in the lab directory.
type Paths struct {
	Dir, Seed, Serial, QMP, Pidfile string
	// SystemDisk and DataDisk are a Talos node's disks (the twin has none).
	SystemDisk, DataDisk string
}

// NodePaths lays out node name's files under the lab directory dir.
func NodePaths(dir, name string) Paths {
	d := filepath.Join(dir, "nodes", name)
	return Paths{
		Dir:     d,
		Seed:    filepath.Join(d, "seed.iso"),
		Serial:  filepath.Join(d, "serial.log"),
		QMP:     filepath.Join(d, "qmp.sock"),
		Pidfile: filepath.Join(d, "qemu.pid"),
		// Named as upstream's lab names them.
		SystemDisk: filepath.Join(d, "system.img"),
		DataDisk:   filepath.Join(d, "data.img"),
	}
}

// Guest is what all nodes boot: the twin's kernel and initramfs, or (Image NodeImageTalos)
// each node's own disks made from the Talos image.
type Guest struct {
	// Image is NodeImageTwin (or empty) or NodeImageTalos.
	Image          string
	Kernel, Initrd string
	Accel          vm.Accel
	// MemoryMiB and CPUs size each node; the image's defaults (NodeSize) when zero.
	MemoryMiB, CPUs int
}

// NodeSize is the default size of a node of image: a twin (NodeMemoryMiB, NodeCPUs) or a real
// Talos node (TalosMemoryMiB, TalosCPUs); LAB_NODE_MEMORY_MIB and LAB_NODE_CPUS override both.
func NodeSize(image string) (memoryMiB, cpus int) {
	if image == NodeImageTalos {
		return TalosMemoryMiB, TalosCPUs
	}
	return NodeMemoryMiB, NodeCPUs
}

// NodeSpec is the VM of node i (0-based) of plan. A twin boots the kernel directly; a Talos
// node boots its system disk (SeaBIOS, no UEFI: the nocloud image carries a BIOS boot loader)
// with its data disk second. Both read their NoCloud seed.
func NodeSpec(dir string, plan network.Plan, i int, g Guest) vm.Spec {
	name := NodeNames(len(plan.Nodes))[i]
	p := NodePaths(dir, name)
	s := vm.Spec{
		Name: name, Accel: g.Accel,
		Seed:      p.Seed,
		NIC:       &vm.NIC{Tap: plan.Nodes[i].Tap, MAC: vm.MAC(plan.Lab, name)},
		SerialLog: p.Serial, QMPSocket: p.QMP, Pidfile: p.Pidfile,
	}
	s.MemoryMiB, s.CPUs = NodeSize(g.Image)
	if g.MemoryMiB > 0 {
		s.MemoryMiB = g.MemoryMiB
	}
	if g.CPUs > 0 {
		s.CPUs = g.CPUs
	}
	if g.Image == NodeImageTalos {
		s.Disk, s.DataDisk = p.SystemDisk, p.DataDisk
		return s
	}
	s.Kernel, s.Initrd, s.Append = g.Kernel, g.Initrd, twinAppend
	return s
}

// stopFromPidfile stops node name's QEMU if one still runs, from its files alone.
func stopFromPidfile(ctx context.Context, dir, name, image string) error {
	p := NodePaths(dir, name)
	spec := vm.Spec{Name: name, QMPSocket: p.QMP, Pidfile: p.Pidfile}
	return vm.StopFromPidfile(ctx, spec, vm.Options{PowerdownTimeout: powerdownTimeout(image)})
}

// runningQEMU returns the pid in pidfile when that process is alive and is QEMU, else 0. It
// changes nothing (status only).
func runningQEMU(pidfile string) (int, error) {
	raw, err := os.ReadFile(pidfile)
	if err != nil {
		return 0, err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil || !process.Alive(pid) {
		return 0, err
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || filepath.Base(exe) != vm.Binary {
		return 0, err
	}
	return pid, nil
}

// facts is what the QEMU lab records in its state as it goes.
type facts struct {
	// Network is the lab's network plan, recorded before anything of it exists; HostChanges
	// is what it changed on the host (forwarding), for Down to restore.
	Network     *network.Plan       `json:"network,omitempty"`
	HostChanges network.HostChanges `json:"hostChanges,omitzero"`
	// Registry is the artifact registry's address on 127.0.0.1 (the harness pushes there);
	// ClusterRegistry the same registry on the bridge's gateway (the nodes pull there);
	// ConfigRegistry the one the machine configs name.
	Registry        string `json:"registry,omitempty"`
	ClusterRegistry string `json:"clusterRegistry,omitempty"`
	ConfigRegistry  string `json:"configRegistry,omitempty"`
	// SeedConfigs identifies the machine configs the seeds carry (configsDigest).
	SeedConfigs string `json:"seedConfigs,omitempty"`
	// TalosImage is the cached Talos image the disks were written from.
	TalosImage *talosimage.Image `json:"talosImage,omitempty"`
}

// recordedPlan reads the network plan from the state.
func recordedPlan(store *state.Store) (network.Plan, error) {
	f, err := state.LoadFacts[facts](store)
	if err != nil {
		return network.Plan{}, err
	}
	if f.Network == nil {
		return network.Plan{}, errors.New("the lab has no network plan yet")
	}
	return *f.Network, f.Network.Validate()
}

// downNetwork removes the lab's network: by the recorded names, or derived from the lab name
// when the state holds no plan. Forwarding is restored as the recorded changes say.
func downNetwork(ctx context.Context, store *state.Store, lab string) error {
	names, err := network.NamesFor(lab)
	if err != nil {
		return err
	}
	f, err := state.LoadFacts[facts](store)
	if f.Network != nil {
		names = f.Network.Names
	}
	return errors.Join(err, network.Down(ctx, names, f.HostChanges), store.Undo(ActionNetwork))
}

// nodeAddress is node i's address with the subnet's length, as the seed and config want it.
func nodeAddress(plan network.Plan, i int) netip.Prefix {
	return netip.PrefixFrom(plan.Nodes[i].Addr, plan.Subnet.Bits())
}

// sizeLine says what each guest was given and what that takes of the host's memory (hostBytes,
// 0 when unknown): "3 nodes × 3072 MiB, 1 vCPU each (9216 MiB of the host's 24 GiB), TCG".
func sizeLine(nodes, memoryMiB, cpus int, hostBytes uint64, accel string) string {
	total := nodes * memoryMiB
	host := "the host's memory unknown"
	if hostBytes > 0 {
		host = fmt.Sprintf("%d MiB of the host's %s", total, gib(hostBytes))
		if uint64(total)<<20 > hostBytes {
			host += ": more than it has, lower LAB_NODE_MEMORY_MIB"
		}
	}
	unit := "vCPUs"
	if cpus == 1 {
		unit = "vCPU"
	}
	return fmt.Sprintf("%d nodes × %d MiB, %d %s each (%s), %s", nodes, memoryMiB, cpus, unit, host, accel)
}

// gib formats bytes as whole GiB, rounded to nearest ("24 GiB"), or with one decimal below 10.
func gib(b uint64) string {
	g := float64(b) / (1 << 30)
	if g < 10 {
		return strconv.FormatFloat(g, 'f', 1, 64) + " GiB"
	}
	return strconv.FormatFloat(g, 'f', 0, 64) + " GiB"
}

// tcgCacheMiB is what QEMU adds to a guest's memory under TCG: its translation cache (measured:
// a 3072 MiB guest peaked at 3.5–4.3 GiB resident).
const tcgCacheMiB = 1024

// checkMemory refuses to boot guests the host has no memory for: each needs its memoryMiB (and
// QEMU's translation cache under TCG) out of what the kernel says is available (meminfo is
// /proc/meminfo's text). A host short of memory would otherwise kill a guest, or another
// program, in the middle of the bring-up. Unreadable meminfo checks nothing.
func checkMemory(meminfo string, nodes, memoryMiB int, tcg bool) error {
	avail, ok := memAvailableMiB(meminfo)
	if !ok {
		return nil
	}
	per, extra := memoryMiB, ""
	if tcg {
		per += tcgCacheMiB
		extra = fmt.Sprintf(" + %d MiB of QEMU's TCG translation cache", tcgCacheMiB)
	}
	if need := nodes * per; need > avail {
		return fmt.Errorf("not enough memory for the guests: they need %d MiB (%d × (%d MiB%s)), the host has %d MiB available (MemAvailable in /proc/meminfo): stop what else holds memory, such as another lab (go run mage.go lab:status, lab:down), or lower LAB_NODE_MEMORY_MIB",
			need, nodes, memoryMiB, extra, avail)
	}
	return nil
}

// memAvailableMiB reads MemAvailable from /proc/meminfo's text.
func memAvailableMiB(meminfo string) (int, bool) {
	for _, line := range strings.Split(meminfo, "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "MemAvailable:" {
			kib, err := strconv.Atoi(f[1])
			return kib >> 10, err == nil
		}
	}
	return 0, false
}

// hostMemory is the host's total RAM in bytes, 0 when it cannot be read.
func hostMemory() uint64 {
	var si syscall.Sysinfo_t
	if err := syscall.Sysinfo(&si); err != nil {
		return 0
	}
	return uint64(si.Totalram) * uint64(si.Unit)
}
