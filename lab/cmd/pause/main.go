//go:build linux

// Command pause is the lab's pod sandbox ("pause") image: the process that holds a pod's
// namespaces. Like Kubernetes' build/pause/linux/pause.c it does nothing until SIGINT or SIGTERM,
// then exits 0, and it reaps every child that exits, because in a pod sharing its process
// namespace it is PID 1 and orphans are re-parented to it. It is built static (CGO_ENABLED=0,
// -trimpath, -ldflags=-s -w) and is the only file of its image (package lab/images).
//
//	pause        wait for SIGINT or SIGTERM
//	pause -v     print the version and exit
package main

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

// version is what -v prints: the upstream pause release this one stands in for.
const version = "3.10.1"

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-v" {
		fmt.Println("pause.go (cozylab) " + version)
		return
	}
	if len(os.Args) > 1 {
		fmt.Fprintln(os.Stderr, "usage: pause [-v]")
		os.Exit(2)
	}
	if os.Getpid() != 1 {
		// Not an error: pause also runs outside pod sandboxes (pause.c says the same).
		fmt.Fprintln(os.Stderr, "Warning: pause should be the first process")
	}
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGCHLD)
	for sig := range sigs {
		if sig == syscall.SIGCHLD {
			reap()
			continue
		}
		fmt.Fprintf(os.Stderr, "Shutting down, got signal: %s\n", sig)
		return
	}
}

// reap waits for every exited child without blocking. Signals coalesce, so one SIGCHLD may stand
// for several exits: it loops until no exited child is left.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if pid <= 0 || err != nil { // 0: children left, none exited; ECHILD: no children
			return
		}
	}
}
