package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// Exit codes the agent uses to ask PID 1 for a power action.
const (
	exitReboot   = 10
	exitPowerOff = 11
)

// agentEnv marks the agent process that PID 1 starts from its own binary.
const agentEnv = "COZYLAB_TWIN_AGENT"

// mount is one filesystem PID 1 mounts before anything else runs.
type mount struct{ source, target, fstype string }

// basicMounts are mounted in order (parents first). The node's programs want cgroup v2 (the
// kubelet and runc with cgroupfs), /dev/pts and /dev/shm (containers, exec with a TTY), and
// /var on a tmpfs (containerd's overlay snapshots need an upper filesystem with xattrs).
var basicMounts = []mount{
	{"proc", "/proc", "proc"},
	{"sysfs", "/sys", "sysfs"},
	{"cgroup2", "/sys/fs/cgroup", "cgroup2"},
	{"devtmpfs", "/dev", "devtmpfs"},
	{"devpts", "/dev/pts", "devpts"},
	{"tmpfs", "/dev/shm", "tmpfs"},
	{"tmpfs", "/tmp", "tmpfs"},
	{"tmpfs", "/run", "tmpfs"},
	{"tmpfs", "/var", "tmpfs"},
}

func mountBasics() error {
	var errs []error

	for _, m := range basicMounts {
		if err := os.MkdirAll(m.target, 0o755); err != nil {
			errs = append(errs, fmt.Errorf("create %s: %w", m.target, err))

			continue
		}

		if err := unix.Mount(m.source, m.target, m.fstype, 0, ""); err != nil && !errors.Is(err, unix.EBUSY) {
			errs = append(errs, fmt.Errorf("mount %s on %s: %w", m.fstype, m.target, err))
		}
	}

	// Every mount is shared, as on a systemd host: the kubelet and containerd propagate the
	// mounts they make for pods' volumes.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SHARED, ""); err != nil {
		errs = append(errs, fmt.Errorf("make / shared: %w", err))
	}

	return errors.Join(errs...)
}

// loadModules loads the kernel modules listed in order (one path a line, dependencies first),
// skipping those already loaded. It returns how many it loaded and every failure.
func loadModules(order io.Reader) (int, error) {
	var (
		errs   []error
		loaded int
	)

	sc := bufio.NewScanner(order)
	for sc.Scan() {
		path := strings.TrimSpace(sc.Text())
		if path == "" || strings.HasPrefix(path, "#") {
			continue
		}

		switch err := loadModule(path); {
		case err == nil:
			loaded++
		case errors.Is(err, unix.EEXIST):
		default:
			errs = append(errs, err)
		}
	}

	if err := sc.Err(); err != nil {
		errs = append(errs, fmt.Errorf("read module list: %w", err))
	}

	return loaded, errors.Join(errs...)
}

func loadModule(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open module %s: %w", path, err)
	}
	defer f.Close()

	if err := unix.FinitModule(int(f.Fd()), "", 0); err != nil {
		return fmt.Errorf("load module %s: %w", path, err)
	}

	return nil
}

// runInit is PID 1: it mounts the basics, loads the modules, starts the agent from its own
// binary and reaps every process until the agent exits, then reboots or powers off as the
// agent's exit code asks. An agent that fails powers the machine off, so a broken guest stops
// instead of looping.
func runInit() {
	mountErr := mountBasics()
	console := openConsole()
	say := sayTo(console)

	say("init: mounted /proc /sys /sys/fs/cgroup /dev /dev/pts /dev/shm /tmp /run /var")

	if mountErr != nil {
		say("init: %v", mountErr)
	}

	if f, err := os.Open("/etc/modules.order"); err != nil {
		say("init: no module list: %v", err)
	} else {
		n, err := loadModules(f)
		f.Close()
		say("init: loaded %d kernel modules", n)

		if err != nil {
			say("init: %v", err)
		}
	}

	action := superviseAgent(console, say)

	unix.Sync()

	if action == exitReboot {
		say("init: rebooting")
		_ = unix.Reboot(unix.LINUX_REBOOT_CMD_RESTART) //nolint:errcheck // nothing is left to report to
	}

	say("init: powering off")
	_ = unix.Reboot(unix.LINUX_REBOOT_CMD_POWER_OFF) //nolint:errcheck // nothing is left to report to
	select {}
}

// superviseAgent starts the agent and reaps children until it exits; it returns its exit code.
func superviseAgent(console *os.File, say func(string, ...any)) int {
	self, err := os.Executable()
	if err != nil {
		self = "/init"
	}

	// The agent's environment is every node program's: GOGC=200 halves the garbage collector's
	// work (which under TCG is a good share of a Go program's start) for memory the guest has.
	proc, err := os.StartProcess(self, []string{self}, &os.ProcAttr{
		Env:   append(os.Environ(), agentEnv+"=1", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "GOGC=200"),
		Files: []*os.File{nil, console, console},
	})
	if err != nil {
		say("init: start agent: %v", err)

		return 1
	}

	// The power button asks the agent to stop (it stops etcd and kube-apiserver, then exits
	// with the power-off code).
	go watchPowerButton(say, func() { _ = proc.Signal(unix.SIGTERM) })

	for {
		var ws unix.WaitStatus

		pid, err := unix.Wait4(-1, &ws, 0, nil)
		if err != nil && !errors.Is(err, unix.EINTR) {
			say("init: wait: %v", err)

			return 1
		}

		if pid == proc.Pid {
			say("init: agent exited (%s)", describeExit(ws))

			return ws.ExitStatus()
		}
	}
}

func describeExit(ws unix.WaitStatus) string {
	if ws.Signaled() {
		return "killed by " + ws.Signal().String()
	}

	return fmt.Sprintf("status %d", ws.ExitStatus())
}

// openConsole opens the serial console for writing: the only window into the guest.
func openConsole() *os.File {
	f, err := os.OpenFile("/dev/console", os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return os.Stderr
	}

	return f
}

// sayTo returns a printer of progress lines marked as the twin's.
func sayTo(w io.Writer) func(string, ...any) {
	return func(format string, args ...any) {
		fmt.Fprintf(w, "cozylab-twin: "+format+"\n", args...)
	}
}
