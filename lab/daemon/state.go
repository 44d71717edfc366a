package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/lab/state"
)

// Package is the lab daemon's main package, relative to the module root.
const Package = "./lab/cmd/cozylab-lab"

// Build builds the lab daemon from the module at repoRoot into out.
func Build(ctx context.Context, repoRoot, out string) error {
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, Package)
	cmd.Dir = repoRoot
	if _, err := command.Run(cmd); err != nil {
		return fmt.Errorf("build the lab daemon: %w", err)
	}
	return nil
}

// Record saves the calling process as the lab's daemon. A daemon does it first thing, so
// `lab:down` finds it even when the lab never came up.
func Record(store *state.Store) error {
	self, err := process.Identify(os.Getpid())
	if err != nil {
		return err
	}
	return store.SetDaemon(&state.Daemon{Pid: self.Pid, Start: self.Start})
}

// Recorded returns the identity Record saved, if any.
func Recorded(store *state.Store) (process.Identity, bool) {
	d := store.Lab().Daemon
	if d == nil || d.Pid <= 0 {
		return process.Identity{}, false
	}
	return process.Identity{Pid: d.Pid, Start: d.Start}, true
}

// LogName is the daemon's log in the lab directory.
const LogName = "daemon.log"
