// Command cozylab-twin is the init of the Talos twin guest: a static binary that, as PID 1,
// mounts the basics, loads the virtio modules and starts itself again as the agent, which reads
// the NoCloud seed, configures the NIC and serves the machinery API on :50000 in front of real
// etcd and kube-apiserver processes. Progress goes to the console, the serial log being the only
// window into the guest.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	if os.Getpid() == 1 && os.Getenv(agentEnv) == "" {
		runInit()
	}

	say := sayTo(os.Stdout)
	say("agent: starting")

	// SIGTERM comes from PID 1 when the power button is pressed: stop cleanly and power off.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()

	code, err := runAgent(ctx, guestPaths, say)
	if err != nil {
		say("agent: %v", err)
	}

	stop()
	os.Exit(code)
}
