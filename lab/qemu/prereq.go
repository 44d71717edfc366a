package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cozylab/cozylab/lab/qemu/twinimage"
	"github.com/cozylab/cozylab/lab/qemu/vm"
)

// Node images (LAB_NODE_IMAGE).
const (
	// NodeImageTwin is the Talos twin: the host's kernel with our agent as init. It boots
	// anywhere, TCG included, and is the default.
	NodeImageTwin = "twin"
	// NodeImageTalos is the real Talos nocloud disk image from the Image Factory, for hosts
	// with KVM and internet access.
	NodeImageTalos = "talos"
)

// Host paths of the guest kernel; variables so tests can point them elsewhere.
var (
	bootDir    = "/boot"
	modulesDir = "/lib/modules"
)

// Prerequisites checks, in order, what Up needs from the host and says in one line what to do
// about the first thing missing.
func Prerequisites(nodeImage string) error {
	if err := checkNodeImage(nodeImage); err != nil {
		return err
	}
	if err := requireRoot(); err != nil {
		return err
	}
	if _, err := vm.LookPath(); err != nil {
		return fmt.Errorf("the QEMU lab needs %s: run `apt-get install qemu-system-x86`", vm.Binary)
	}
	if _, err := FindKernel(); err != nil {
		return err
	}
	return nil
}

func checkNodeImage(image string) error {
	if image == "" || image == NodeImageTwin || image == NodeImageTalos {
		return nil
	}
	return fmt.Errorf("LAB_NODE_IMAGE=%s is not a node image: use %s (the default, boots anywhere) or %s (real Talos, for a KVM host)",
		image, NodeImageTwin, NodeImageTalos)
}

func requireRoot() error {
	if os.Geteuid() != 0 {
		return errors.New("the QEMU lab creates a bridge, taps and nftables rules: run it as root (sudo -E go run mage.go ...)")
	}
	return nil
}

// FindKernel returns the newest /boot/vmlinuz-<version> whose modules are installed (the twin
// guest loads its virtio drivers from them).
func FindKernel() (string, error) {
	ver, err := twinimage.FindKernel(bootDir, modulesDir)
	if err != nil {
		return "", fmt.Errorf("the QEMU lab needs a guest kernel: %w", err)
	}
	return filepath.Join(bootDir, "vmlinuz-"+ver), nil
}

// ProbeKVM reports whether guests really run under KVM here, and why in one line: it boots the
// host kernel with vm's tiny initramfs under KVM (vm.ProbeKVM). Without QEMU or a kernel it
// says which is missing.
func ProbeKVM(ctx context.Context) (bool, string) {
	if _, err := vm.LookPath(); err != nil {
		return false, vm.Binary + " is missing (apt-get install qemu-system-x86)"
	}
	kernel, err := FindKernel()
	if err != nil {
		return false, "no guest kernel (apt-get install linux-image-amd64)"
	}
	return vm.ProbeKVM(ctx, kernel, "")
}
