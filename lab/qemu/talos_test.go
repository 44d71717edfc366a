package qemu

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/lab/qemu/talosimage"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/lab/state"
)

// A Talos node boots its own system disk under SeaBIOS, with its data disk and seed, and no
// kernel of the host.
func TestNodeSpecOfATalosNodeBootsItsDisks(t *testing.T) {
	plan := testPlan(t)
	dir := "/var/lib/labs/qtest"
	spec := NodeSpec(dir, plan, 1, Guest{Image: NodeImageTalos, Kernel: "/boot/vmlinuz", Accel: vm.KVM})
	require.NoError(t, spec.Validate())

	node := filepath.Join(dir, "nodes", "srv2")
	assert.Equal(t, filepath.Join(node, "system.img"), spec.Disk)
	assert.Equal(t, filepath.Join(node, "data.img"), spec.DataDisk)
	assert.Equal(t, filepath.Join(node, "seed.iso"), spec.Seed)
	assert.Empty(t, spec.Kernel+spec.Initrd+spec.Append, "no direct kernel boot")
	assert.Equal(t, TalosMemoryMiB, spec.MemoryMiB)
	assert.Equal(t, TalosCPUs, spec.CPUs)
	assert.Equal(t, vm.MAC("qtest", "srv2"), spec.NIC.MAC)

	args := strings.Join(vm.Args(spec), " ")
	for _, want := range []string{
		"-accel kvm -cpu host -m 8192 -smp 4",
		"-drive if=none,id=disk0,format=raw,file=" + node + "/system.img,discard=unmap -device virtio-blk-pci,drive=disk0,bootindex=1",
		"-drive if=none,id=disk1,format=raw,file=" + node + "/data.img,discard=unmap -device virtio-blk-pci,drive=disk1",
		"-drive if=none,id=seed,format=raw,file=" + node + "/seed.iso,readonly=on -device virtio-blk-pci,drive=seed,serial=cidata",
	} {
		assert.Contains(t, args, want)
	}
	assert.NotContains(t, args, "-kernel")
	assert.NotContains(t, args, "pflash", "SeaBIOS, no UEFI firmware")
}

func TestPowerdownWaitsLongerForTalos(t *testing.T) {
	assert.Equal(t, twinPowerdown, powerdownTimeout(NodeImageTwin))
	assert.Equal(t, twinPowerdown, powerdownTimeout(""))
	assert.Equal(t, talosPowerdown, powerdownTimeout(NodeImageTalos))
}

func TestNodeImageLineSaysWhichImage(t *testing.T) {
	o, err := talosimage.Options{}.WithDefaults()
	require.NoError(t, err)

	title, why := nodeImageLine(NodeImageTwin, o, vm.TCG)
	assert.Equal(t, "Node image: twin", title)
	assert.Contains(t, why, "LAB_NODE_IMAGE=talos boots real Talos on a KVM host")

	title, why = nodeImageLine(NodeImageTalos, o, vm.KVM)
	assert.Equal(t, "Node image: talos v1.13.6 (schematic "+talosimage.EmptySchematic+")", title)
	assert.Equal(t, "LAB_NODE_IMAGE=talos, nocloud disk image from https://factory.talos.dev", why)

	_, why = nodeImageLine(NodeImageTalos, o, vm.TCG)
	assert.Contains(t, why, "Talos boots under TCG")
}

func TestCheckRefusesABadTalosRequest(t *testing.T) {
	req := state.Request{Name: "dev", Provider: ProviderName, QEMU: &state.QEMURequest{NodeImage: NodeImageTalos,
		Talos: state.TalosImage{Version: "latest"}}}
	_, err := talosOptions(req.QEMU.Talos).WithDefaults()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Talos version "latest" is not a release such as v1.13.6 (LAB_TALOS_VERSION)`)
	require.Error(t, backend{}.Check(req))
}

func TestRequestedTalosOptionsHaveDefaults(t *testing.T) {
	l := &lab{req: state.QEMURequest{NodeImage: NodeImageTalos, Talos: state.TalosImage{Version: "v1.13.5"}}}
	o := l.talosOptions()
	assert.Equal(t, "v1.13.5", o.Version)
	assert.Equal(t, talosimage.EmptySchematic, o.Schematic)
	assert.Equal(t, talosimage.DefaultBaseURL, o.BaseURL)
}

// The image picks the actions: the twin's image is built; a Talos image is downloaded and
// copied onto disks. Everything else is the same list, and the same actions are kept, except
// that twins then get the lab's own pods (images, nodes Ready, CoreDNS), which a Talos node
// deploys itself.
func TestActionsDependOnTheNodeImage(t *testing.T) {
	names := func(image string) (names, kept []string) {
		for _, a := range Actions(state.QEMURequest{NodeImage: image}) {
			names = append(names, a.Name)
			if a.Kept() {
				kept = append(kept, a.Name)
			}
		}
		return names, kept
	}
	common := []string{ActionSeeds, ActionBoot, ActionAPIs, ActionBootstrap, ActionEtcd, ActionKubeconfig, ActionKubernetes}
	start := []string{ActionNetwork, ActionRegistry, ActionConfigs}
	twin, twinKept := names(NodeImageTwin)
	assert.Equal(t, append(append(append(append([]string{}, start...), ActionTwinImage), common...), ActionImages, ActionNodesReady, ActionDNS), twin)
	assert.Equal(t, []string{ActionNetwork, ActionConfigs, ActionSeeds}, twinKept, "files and the network are kept; processes and VMs are not")
	talos, talosKept := names(NodeImageTalos)
	assert.Equal(t, append(append(append([]string{}, start...), ActionTalosImage, ActionDisks), common...), talos)
	assert.Equal(t, []string{ActionNetwork, ActionConfigs, ActionTalosImage, ActionDisks, ActionSeeds}, talosKept)
}
