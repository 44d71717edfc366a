// Command cozylab-lab is the lab daemon: `lab:up` starts it (package lab/daemon) to bring a lab
// up and keep it running after the harness exits; `lab:down` stops it. Everything about the
// lab — provider, node image, sizes — it reads from the lab's state, where the edge saved the
// request. It is not meant to be run by hand, but can be, for debugging:
//
//	cozylab-lab --state-root ~/.local/state/cozylab/labs --lab dev
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"

	"github.com/cozylab/cozylab/lab/daemon"
	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/qemu"
	"github.com/cozylab/cozylab/lab/state"
)

func main() {
	root := flag.String("state-root", "", "the state root the lab's directory is in")
	name := flag.String("lab", "", "the lab's name")
	flag.Parse()
	if *root == "" || *name == "" || flag.NArg() != 0 {
		fmt.Fprintln(os.Stderr, "usage: cozylab-lab --state-root <dir> --lab <name>")
		os.Exit(2)
	}
	ctrl.SetLogger(zap.New(zap.WriteTo(os.Stderr)))
	ctx, child, cancel := daemon.Attach(context.Background())
	err := run(ctx, child, *root, *name)
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

// run records this process as the lab's daemon — first thing, so `lab:down` finds it even when
// the lab never came up — and runs the lab's provider.
func run(ctx context.Context, child *daemon.Child, root, name string) error {
	store, err := state.Open(root, name)
	if err != nil {
		return err
	}
	if !store.Exists() {
		return fmt.Errorf("lab %s has no state in %s: start it with `go run mage.go lab:up`", name, root)
	}
	if err := daemon.Record(store); err != nil {
		return err
	}
	req := store.Request()
	var runLab provider.RunFunc
	switch req.Provider {
	case local.ProviderName:
		runLab = local.Run
	case qemu.ProviderName:
		runLab = qemu.Run
	default:
		return fmt.Errorf("lab %s asks for provider %q: this daemon runs local and qemu labs", name, req.Provider)
	}
	return runLab(ctx, store, child.Progress, provider.UpWhileRunning(ctx, store, func() {
		child.Ready(filepath.Join(store.Dir(), "kubeconfig"))
	}))
}
