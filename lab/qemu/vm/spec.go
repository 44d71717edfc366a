package vm

import (
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
)

// Binary is the QEMU system emulator the lab runs.
const Binary = "qemu-system-x86_64"

// Accel is a QEMU accelerator.
type Accel string

// Accelerators. KVM runs the guest with the host CPU model; TCG emulates (slow, works anywhere).
const (
	KVM Accel = "kvm"
	TCG Accel = "tcg"
)

// maxSocketPath is the longest path a unix socket address holds (sun_path less its NUL).
const maxSocketPath = 107

// Spec describes one VM. Paths must be absolute: QEMU runs in the process group's directory.
type Spec struct {
	// Name names the VM (-name) and its QEMU process in the supervisor's group and logs.
	Name      string
	MemoryMiB int
	CPUs      int
	Accel     Accel
	// Disk is a raw boot disk (the Talos nocloud image), attached as virtio-blk with
	// bootindex 1. Exactly one of Disk and Kernel is set.
	Disk string
	// Kernel, Initrd and Append boot a kernel directly (the twin guest) instead of a disk.
	Kernel string
	Initrd string
	Append string
	// DataDisk is an optional raw (usually sparse) second disk, attached as virtio-blk.
	DataDisk string
	// Seed is an optional NoCloud seed image (package seed), attached read-only as a
	// virtio-blk disk with serial "cidata". Talos' nocloud platform and the twin agent both find
	// it by its iso9660 volume label, not by bus, and a virtio disk needs no extra guest
	// drivers (a cdrom on q35 would need ahci, sr_mod and cdrom in the twin initramfs).
	Seed string
	// NIC is the optional network interface; without it the guest has none.
	NIC *NIC
	// SerialLog receives the guest's first serial port (ttyS0), appended across restarts.
	SerialLog string
	// QMPSocket is the unix socket of the QMP monitor used for commands; required by Start.
	// QEMU also listens on QMPSocket+".events", which the supervisor holds open to learn why
	// the guest stopped (reset or power-off).
	QMPSocket string
	// Pidfile is where QEMU writes its pid; StopFromPidfile reads it.
	Pidfile string
}

// NIC attaches the guest to an existing tap device.
type NIC struct {
	Tap string
	MAC net.HardwareAddr
}

// EventSocket is the QMP socket the supervisor listens on for events.
func (s Spec) EventSocket() string {
	if s.QMPSocket == "" {
		return ""
	}
	return s.QMPSocket + ".events"
}

// Validate says everything that is wrong with s.
func (s Spec) Validate() error {
	var errs []error
	if s.Name == "" || strings.ContainsAny(s.Name, ",/ ") {
		errs = append(errs, fmt.Errorf("name %q must be non-empty without ',', '/' or spaces", s.Name))
	}
	if s.MemoryMiB < 64 {
		errs = append(errs, fmt.Errorf("memory %d MiB is below 64 MiB", s.MemoryMiB))
	}
	if s.CPUs < 1 {
		errs = append(errs, fmt.Errorf("CPU count %d is below 1", s.CPUs))
	}
	if s.Accel != KVM && s.Accel != TCG {
		errs = append(errs, fmt.Errorf("accel %q is neither %q nor %q", s.Accel, KVM, TCG))
	}
	if (s.Disk == "") == (s.Kernel == "") {
		errs = append(errs, errors.New("set exactly one of a boot disk and a kernel"))
	}
	if s.Disk != "" && (s.Initrd != "" || s.Append != "") {
		errs = append(errs, errors.New("initrd and append need a kernel, not a boot disk"))
	}
	if s.NIC != nil && (s.NIC.Tap == "" || len(s.NIC.MAC) != 6) {
		errs = append(errs, fmt.Errorf("NIC needs a tap name and a 6-byte MAC (got %q, %q)", s.NIC.Tap, s.NIC.MAC))
	}
	for _, p := range []string{s.Disk, s.Kernel, s.Initrd, s.DataDisk, s.Seed, s.SerialLog, s.QMPSocket, s.Pidfile} {
		if strings.Contains(p, ",") {
			errs = append(errs, fmt.Errorf("path %q contains ',' which QEMU options cannot hold", p))
		}
		if p != "" && !filepath.IsAbs(p) {
			errs = append(errs, fmt.Errorf("path %q is not absolute", p))
		}
	}
	if len(s.EventSocket()) > maxSocketPath {
		errs = append(errs, fmt.Errorf("QMP socket path %q is too long for a unix socket (at most %d bytes with %q appended): use a shorter state directory",
			s.QMPSocket, maxSocketPath, ".events"))
	}
	if len(errs) > 0 {
		return fmt.Errorf("invalid VM spec %q: %w", s.Name, errors.Join(errs...))
	}
	return nil
}

// Args returns QEMU's argv after the program name. -no-reboot makes a guest reboot end QEMU
// (exit status 0, QMP SHUTDOWN reason guest-reset) so the supervisor sees and restarts it.
func Args(s Spec) []string {
	a := []string{
		"-name", "guest=" + s.Name,
		"-machine", "q35",
		"-accel", string(s.Accel),
		"-cpu", cpuModel(s.Accel),
		"-m", strconv.Itoa(s.MemoryMiB),
		"-smp", strconv.Itoa(s.CPUs),
		"-nodefaults", "-no-user-config",
		"-display", "none",
		"-no-reboot",
		"-device", "virtio-rng-pci",
	}
	if s.Kernel != "" {
		a = append(a, "-kernel", s.Kernel)
		if s.Initrd != "" {
			a = append(a, "-initrd", s.Initrd)
		}
		if s.Append != "" {
			a = append(a, "-append", s.Append)
		}
	}
	a = append(a, disks(s)...)
	if s.NIC != nil {
		a = append(a,
			"-netdev", "tap,id=n0,ifname="+s.NIC.Tap+",script=no,downscript=no",
			"-device", "virtio-net-pci,netdev=n0,mac="+s.NIC.MAC.String())
	}
	if s.SerialLog != "" {
		a = append(a, "-chardev", "file,id=serial0,path="+s.SerialLog+",append=on", "-serial", "chardev:serial0")
	}
	if s.QMPSocket != "" {
		a = append(a,
			"-qmp", "unix:"+s.QMPSocket+",server=on,wait=off",
			"-qmp", "unix:"+s.EventSocket()+",server=on,wait=off")
	}
	if s.Pidfile != "" {
		a = append(a, "-pidfile", s.Pidfile)
	}
	return a
}

func cpuModel(a Accel) string {
	if a == KVM {
		return "host"
	}
	return "max" // every feature TCG emulates; Talos needs more than the default qemu64
}

func disks(s Spec) []string {
	var a []string
	add := func(id, file, opts, devOpts string) {
		a = append(a,
			"-drive", "if=none,id="+id+",format=raw,file="+file+opts,
			"-device", "virtio-blk-pci,drive="+id+devOpts)
	}
	if s.Disk != "" {
		add("disk0", s.Disk, ",discard=unmap", ",bootindex=1")
	}
	if s.DataDisk != "" {
		add("disk1", s.DataDisk, ",discard=unmap", "")
	}
	if s.Seed != "" {
		add("seed", s.Seed, ",readonly=on", ",serial=cidata")
	}
	return a
}
