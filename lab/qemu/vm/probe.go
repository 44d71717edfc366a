package vm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/process"
)

// ProbeTimeout bounds the KVM probe's wait for the guest's userspace marker. A guest under
// working KVM prints it about a second after QEMU starts.
const ProbeTimeout = 10 * time.Second

// ProbeKVM reports whether guests really run under KVM here, and why not in one line. Opening
// /dev/kvm is not enough (on some hosts a VM is created but QEMU aborts on an MSR with -cpu host,
// or the guest hangs after the firmware), so it boots kernel under -accel kvm -cpu host and
// succeeds only when the serial log shows UserspaceMarker within ProbeTimeout. initrd "" uses
// the tiny initramfs (WriteTinyInitramfs); another initrd must print UserspaceMarker itself.
func ProbeKVM(ctx context.Context, kernel, initrd string) (ok bool, why string) {
	f, err := os.OpenFile("/dev/kvm", os.O_RDWR, 0)
	if err != nil {
		return false, fmt.Sprintf("cannot open /dev/kvm: %v", err)
	}
	if err := f.Close(); err != nil {
		return false, fmt.Sprintf("close /dev/kvm: %v", err)
	}
	bin, err := LookPath()
	if err != nil {
		return false, err.Error()
	}
	dir, err := os.MkdirTemp("", "cozylab-kvm-probe-")
	if err != nil {
		return false, fmt.Sprintf("create probe directory: %v", err)
	}
	defer os.RemoveAll(dir) // the probe's scratch files; nothing in it is worth an error
	if initrd == "" {
		initrd = filepath.Join(dir, "initramfs.cpio")
		if err := writeTinyInitramfsFile(initrd); err != nil {
			return false, err.Error()
		}
	}
	start := time.Now()
	if err := bootUnderKVM(ctx, bin, dir, kernel, initrd); err != nil {
		return false, err.Error()
	}
	return true, fmt.Sprintf("a guest reached userspace under KVM in %s", time.Since(start).Round(100*time.Millisecond))
}

func writeTinyInitramfsFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("create tiny initramfs: %w", err)
	}
	return errors.Join(WriteTinyInitramfs(f), f.Close())
}

// bootUnderKVM boots the probe guest and waits for the marker; the error is one line.
func bootUnderKVM(ctx context.Context, bin, dir, kernel, initrd string) (err error) {
	spec := Spec{
		Name: "kvm-probe", MemoryMiB: 256, CPUs: 1, Accel: KVM,
		Kernel: kernel, Initrd: initrd, Append: "console=ttyS0 panic=-1",
		SerialLog: filepath.Join(dir, "serial.log"),
	}
	if err := spec.Validate(); err != nil {
		return err
	}
	group, err := process.NewGroup(filepath.Join(dir, "run"))
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, group.Stop(context.WithoutCancel(ctx))) }()
	proc, err := group.Start(process.Spec{Name: spec.Name, Path: bin, Args: Args(spec), StopTimeout: time.Second})
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, kill(proc)) }()
	marker := condition.Condition{
		Name: "userspace marker on the KVM guest's console",
		Check: func(context.Context) error {
			raw, _ := os.ReadFile(spec.SerialLog) // absent until QEMU opens it
			if strings.Contains(string(raw), UserspaceMarker) {
				return nil
			}
			if exited(proc) {
				return condition.Permanent(fmt.Errorf("QEMU exited (%v): %s", errors.Unwrap(proc.ExitError()), mainError(proc.LogTail(20))))
			}
			if line := lastLine(string(raw)); line != "" {
				return fmt.Errorf("the console's last line is %q", line)
			}
			return errors.New("no console output yet")
		},
	}
	return condition.Wait(ctx, marker, condition.Poll{Interval: 100 * time.Millisecond, Timeout: ProbeTimeout}, nil)
}

// mainError picks the line of QEMU's output that says what went wrong.
func mainError(out string) string {
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, "error") {
			return strings.TrimSpace(l)
		}
	}
	return lastLine(out)
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
