package sandbox

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"syscall"
)

// childEnv marks the pod program's real run, under the reaper.
const childEnv = "COZYLAB_SANDBOX_CHILD"

// NeedsReaper says whether this process is the pod's first process and must be its init: the
// lab daemon detaches from whoever started it, so its orphans come to process 1, which must
// reap them.
func NeedsReaper() bool { return os.Getpid() == 1 && os.Getenv(childEnv) == "" }

// Reap runs this program again as a child (same arguments) and acts as the pod's init until it
// ends: every orphan is reaped, SIGTERM and SIGINT go to the child. It returns the child's exit
// code.
func Reap() int {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "sandbox init:", err)
		return 1
	}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	cmd := exec.Command(exe, os.Args[1:]...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		fmt.Fprintln(os.Stderr, "sandbox init:", err)
		return 1
	}
	child := cmd.Process.Pid
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			_ = cmd.Process.Signal(sig)
			continue
		}
		for {
			var ws syscall.WaitStatus
			pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			if pid <= 0 || err != nil {
				break
			}
			if pid == child {
				if ws.Signaled() {
					return 128 + int(ws.Signal())
				}
				return ws.ExitStatus()
			}
		}
	}
	return 1
}

// overlayMagic is overlayfs's statfs type: containerd cannot keep its snapshots on it.
const overlayMagic = 0x794c7630

// RealNodeHere says whether the in-pod local lab can run its real node, and why (not): the
// real node's packages are in the image and the lab's state — where containerd keeps its
// images and snapshots — is not on the container's overlay (the volume is mounted there).
func RealNodeHere(state string, check func() error) (bool, string) {
	if err := check(); err != nil {
		return false, err.Error()
	}
	var fs syscall.Statfs_t
	if err := syscall.Statfs(state, &fs); err != nil {
		return false, fmt.Sprintf("the lab's state directory %s: %v", state, err)
	}
	if fs.Type == overlayMagic {
		return false, fmt.Sprintf("the lab's state directory %s is on the container's overlay (mount the lab's volume there)", state)
	}
	return true, "containerd's root is on the lab's volume"
}
