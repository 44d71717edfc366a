package daemon

import (
	"context"
	"fmt"
	"os"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/lab/state"
)

// Package is the lab daemon's main package, relative to the module root.
const Package = "./lab/cmd/cozylab-lab"

// Build puts the lab daemon at out: the prebuilt one when there is one (prebuilt.Path), else
// built from the module at repoRoot, static (CGO_ENABLED=0), as prebuilt.Build builds it.
func Build(ctx context.Context, repoRoot, out string) error {
	if ok, err := prebuilt.Install(prebuilt.Daemon, out); ok || err != nil {
		return err
	}
	prog, err := prebuilt.Lookup(prebuilt.Daemon)
	if err != nil {
		return err
	}
	cmd, err := prog.Command(ctx, repoRoot, out)
	if err != nil {
		return fmt.Errorf("build the lab daemon: %w", err)
	}
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
