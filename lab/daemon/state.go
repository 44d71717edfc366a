package daemon

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/state"
)

// Package is the lab daemon's main package, relative to the module root.
const Package = "./lab/cmd/cozylab-lab"

// stateKey holds the daemon's identity ("pid/start") in the lab state.
const stateKey = "daemon"

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
	return store.Set(map[string]string{stateKey: fmt.Sprintf("%d/%d", self.Pid, self.Start)})
}

// Recorded returns the identity Record saved, if any.
func Recorded(store *state.Store) (process.Identity, bool) {
	pid, start, ok := strings.Cut(store.Value(stateKey), "/")
	if !ok {
		return process.Identity{}, false
	}
	p, err1 := strconv.Atoi(pid)
	s, err2 := strconv.ParseUint(start, 10, 64)
	return process.Identity{Pid: p, Start: s}, err1 == nil && err2 == nil
}

// LogName is the daemon's log in the lab directory.
const LogName = "daemon.log"

// Launch builds the daemon from repoRoot into <labDir>/bin and starts it for provider on
// labDir (Spawn: its steps are shown on rep; it returns once the lab is up and detached).
func Launch(ctx context.Context, repoRoot, provider, labDir string, rep progress.Reporter) error {
	bin := filepath.Join(labDir, "bin", "cozylab-lab")
	step := rep.Begin("Building the lab daemon")
	if err := step.Done(Build(ctx, repoRoot, bin)); err != nil {
		return err
	}
	_, err := Spawn(ctx, Options{Path: bin, Args: []string{provider, labDir}, Log: filepath.Join(labDir, LogName)}, rep)
	return err
}
