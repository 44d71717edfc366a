// Package vm runs one QEMU virtual machine per lab node and keeps it running.
//
//   - Spec and Args describe a VM as data and turn it into qemu-system-x86_64's argv (q35,
//     -nodefaults, virtio-blk disks, the NoCloud seed as a read-only virtio-blk disk, a
//     virtio-net NIC on an existing tap, serial to a file, QMP, pidfile). MAC gives each node a
//     stable address.
//   - Monitor speaks QMP through go-qemu with a deadline around every call (go-qemu has none).
//   - Start runs QEMU as a supervised process (lab/process: logs, Pdeathsig from a locked
//     thread, sweeping), so QEMU dies with the harness. QEMU runs with -no-reboot: a guest
//     reboot ends it with status 0 and a QMP SHUTDOWN event with reason guest-reset, which the
//     supervisor reads on a second QMP socket it keeps open; it then starts QEMU again with the
//     same disks, up to a bound. A crash (non-zero exit or a signal) or a guest power-off ends
//     the Machine with a reason, never a restart loop. Stop is graceful first: ACPI power
//     button, a bounded wait, QMP quit, SIGKILL.
//   - StopFromPidfile stops a VM from its pidfile alone (down after the harness is gone), after
//     checking the pid still is that QEMU.
//   - ProbeKVM decides whether KVM really runs guests here by booting a tiny guest under
//     -accel kvm -cpu host and waiting, bounded, for a line its init prints from userspace.
//     TinyInit and WriteTinyInitramfs provide that guest: a hand-assembled static ELF of a few
//     hundred bytes, so the probe needs no Go toolchain or cache at run time.
package vm
