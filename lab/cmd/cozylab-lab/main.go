// Command cozylab-lab is the lab daemon: `lab:up` starts it (package lab/daemon) to bring a lab
// up and keep it running after the harness exits; `lab:down` stops it. It is not meant to be
// run by hand, but can be, for debugging: cozylab-lab <provider> <state dir>.
package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cozylab/cozylab/lab/daemon"
	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/state"
)

// runners are the daemons of each provider, by provider name.
var runners = map[string]func(ctx context.Context, child *daemon.Child, dir string) error{
	local.ProviderName: runLocal,
}

func main() {
	run, ok := runners[arg(1)]
	if len(os.Args) != 3 || !ok {
		fmt.Fprintln(os.Stderr, "usage: cozylab-lab <local|qemu> <lab state directory>")
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, child, cancel := daemon.Attach(context.Background())
	err := run(ctx, child, os.Args[2])
	cancel()
	if err != nil {
		child.Failed(err)
		fmt.Fprintln(os.Stderr, "cozylab-lab:", err)
	}
	child.Close()
	if err != nil {
		os.Exit(1)
	}
}

func arg(i int) string {
	if i < len(os.Args) {
		return os.Args[i]
	}
	return ""
}

// openLab opens the state of the lab in dir for provider and records this process as its
// daemon — first thing, so `lab:down` finds the daemon even when the lab never came up.
func openLab(dir, provider string) (string, *state.Store, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", nil, err
	}
	store, err := state.Open(filepath.Dir(dir), filepath.Base(dir), provider)
	if err != nil {
		return "", nil, err
	}
	return dir, store, daemon.Record(store)
}

func runLocal(ctx context.Context, child *daemon.Child, dir string) error {
	dir, store, err := openLab(dir, local.ProviderName)
	if err != nil {
		return err
	}
	return local.RunLab(ctx, local.LabOptions{
		Dir:      dir,
		Progress: child.Progress,
		Ready: func(values map[string]string) error {
			if err := store.Set(values); err != nil {
				return err
			}
			if err := store.MarkDone(local.StepUp); err != nil {
				return err
			}
			child.Ready(values[local.KeyKubeconfig])
			return nil
		},
	})
}
