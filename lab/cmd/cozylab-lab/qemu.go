package main

import (
	"context"

	"github.com/cozylab/cozylab/lab/daemon"
	"github.com/cozylab/cozylab/lab/qemu"
)

func init() { runners[qemu.ProviderName] = runQEMU }

// runQEMU is the QEMU lab's daemon: it records itself, runs the lab until signalled, and
// reports ready with the kubeconfig's path.
func runQEMU(ctx context.Context, child *daemon.Child, dir string) error {
	dir, store, err := openLab(dir, qemu.ProviderName)
	if err != nil {
		return err
	}
	return qemu.RunLab(ctx, qemu.LabOptions{
		Dir:      dir,
		Store:    store,
		RepoRoot: store.Value(qemu.KeyRepoRoot),
		Progress: child.Progress,
		Ready: func(kubeconfig string) error {
			if err := store.Set(map[string]string{qemu.KeyKubeconfig: kubeconfig}); err != nil {
				return err
			}
			if err := store.MarkDone(qemu.StepUp); err != nil {
				return err
			}
			child.Ready(kubeconfig)
			return nil
		},
	})
}
