package process

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// Pdeathsig fires when the *thread* that forked the child exits, not the process (see
// prctl(2)). Go may retire idle OS threads, so every child is started from one goroutine locked
// to its thread for the life of the program. The same thread enters a network namespace for a
// child that must start in one (a forked child inherits its thread's namespaces) and returns to
// its own right after the fork.
var (
	spawnOnce sync.Once
	spawnReqs chan spawnReq
)

type spawnReq struct {
	cmd   *exec.Cmd
	netns string
	done  chan error
}

func startCmd(cmd *exec.Cmd, netns string) error {
	spawnOnce.Do(func() {
		spawnReqs = make(chan spawnReq)
		go spawner()
	})
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	cmd.SysProcAttr.Pdeathsig = syscall.SIGKILL
	cmd.SysProcAttr.Setpgid = true
	done := make(chan error, 1)
	spawnReqs <- spawnReq{cmd: cmd, netns: netns, done: done}
	return <-done
}

func spawner() {
	runtime.LockOSThread() // never unlocked: this thread lives as long as the program
	home, homeErr := os.Open("/proc/thread-self/ns/net")
	for r := range spawnReqs {
		if r.netns == "" {
			r.done <- r.cmd.Start()
			continue
		}
		if homeErr != nil {
			r.done <- fmt.Errorf("open this thread's network namespace: %w", homeErr)
			continue
		}
		r.done <- startIn(r.cmd, r.netns, home)
	}
}

// startIn starts cmd inside the network namespace at path, then returns the thread to home. A
// thread that cannot return would start every later child in the wrong namespace: that panics.
func startIn(cmd *exec.Cmd, path string, home *os.File) error {
	ns, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("open network namespace %s: %w", path, err)
	}
	defer ns.Close()
	if err := unix.Setns(int(ns.Fd()), unix.CLONE_NEWNET); err != nil {
		return fmt.Errorf("enter network namespace %s: %w", path, err)
	}
	startErr := cmd.Start()
	if err := unix.Setns(int(home.Fd()), unix.CLONE_NEWNET); err != nil {
		panic(errors.Join(fmt.Errorf("return the spawner thread to its network namespace: %w", err), startErr))
	}
	return startErr
}
