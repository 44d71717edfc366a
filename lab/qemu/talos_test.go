package qemu

import (
	"path/filepath"
	"reflect"
	"runtime"
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

func TestUpRecordsTheTalosRequest(t *testing.T) {
	t.Setenv(EnvTalosVersion, "v1.13.5")
	t.Setenv(EnvTalosSchematic, "")
	t.Setenv(EnvTalosSHA256, strings.Repeat("a", 64))

	twin := &Provider{}
	assert.Equal(t, map[string]string{KeyRepoRoot: "/repo", KeyNodeImage: NodeImageTwin}, twin.request("/repo"),
		"the twin is the default and needs no Talos values")

	talos := &Provider{NodeImage: NodeImageTalos, TalosSchematic: strings.Repeat("b", 64)}
	assert.Equal(t, map[string]string{
		KeyRepoRoot: "/repo", KeyNodeImage: NodeImageTalos,
		KeyTalosVersion: "v1.13.5", KeyTalosSchematic: strings.Repeat("b", 64), KeyTalosPin: strings.Repeat("a", 64),
	}, talos.request("/repo"), "fields first, then the environment")
	assert.NoError(t, talos.checkTalos())

	bad := &Provider{NodeImage: NodeImageTalos, TalosVersion: "latest"}
	err := bad.checkTalos()
	require.Error(t, err)
	assert.Contains(t, err.Error(), `Talos version "latest" is not a release such as v1.13.6 (LAB_TALOS_VERSION)`)
}

func TestRecordedTalosOptionsHaveDefaults(t *testing.T) {
	store, err := state.Open(t.TempDir(), "qtest", ProviderName)
	require.NoError(t, err)
	require.NoError(t, store.Set(map[string]string{KeyNodeImage: NodeImageTalos, KeyTalosVersion: "v1.13.5"}))
	l := &lab{LabOptions: LabOptions{Store: store}}
	o := l.talosOptions()
	assert.Equal(t, "v1.13.5", o.Version)
	assert.Equal(t, talosimage.EmptySchematic, o.Schematic)
	assert.Equal(t, talosimage.DefaultBaseURL, o.BaseURL)
}

// The image picks the steps: the twin's image is built; a Talos image is downloaded and
// copied onto disks. Everything else is the same list.
func TestActionsDependOnTheNodeImage(t *testing.T) {
	names := func(image string) []string {
		var out []string
		for _, a := range (&lab{image: image}).actions() {
			name := runtime.FuncForPC(reflect.ValueOf(a).Pointer()).Name()
			name = strings.TrimSuffix(name[strings.LastIndex(name, ".")+1:], "-fm")
			out = append(out, name)
		}
		return out
	}
	common := []string{"writeSeeds", "bootVMs", "waitForAPIs", "bootstrap", "waitForEtcd", "fetchKubeconfig", "checkKubernetes"}
	start := []string{"chooseAccel", "setUpNetwork", "startRegistry", "generateConfigs"}
	assert.Equal(t, append(append(append([]string{}, start...), "buildImage"), common...), names(NodeImageTwin))
	assert.Equal(t, append(append(append([]string{}, start...), "downloadTalos", "writeDisks"), common...), names(NodeImageTalos))
}

func TestARunningLabOfAnotherImageIsNotReused(t *testing.T) {
	assert.NoError(t, (&Provider{}).sameImage(NodeImageTalos), "LAB_NODE_IMAGE unset reuses any lab")
	assert.NoError(t, (&Provider{NodeImage: NodeImageTalos}).sameImage(NodeImageTalos))
	err := (&Provider{Lab: "dev", NodeImage: NodeImageTalos}).sameImage(NodeImageTwin)
	require.Error(t, err)
	assert.Equal(t, "QEMU lab dev is up with the twin image, not talos: remove it first with `LAB_NAME=dev go run mage.go lab:down`", err.Error())
}

func TestCheckE2EFollowsTheRunningLabThenTheRequest(t *testing.T) {
	root := t.TempDir()
	assert.ErrorIs(t, (&Provider{Lab: "a", Root: root}).CheckE2E(), ErrTwinE2E, "the twin is the default")
	assert.NoError(t, (&Provider{Lab: "a", Root: root, NodeImage: NodeImageTalos}).CheckE2E())

	p := &Provider{Lab: "b", Root: root}
	store, err := p.open()
	require.NoError(t, err)
	require.NoError(t, store.Set(map[string]string{KeyNodeImage: NodeImageTalos}))
	assert.NoError(t, p.CheckE2E(), "a Talos lab is up")
}
