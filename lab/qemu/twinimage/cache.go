package twinimage

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cozylab/cozylab/internal/atomicfile"
	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
)

// initrdName is the initramfs file in its digest directory.
const initrdName = "initramfs.cpio.gz"

// cachedInitramfs returns <cache>/<digest>/initramfs.cpio.gz, writing it (temp file, then
// rename) only when it is not there yet.
func (o Options) cachedInitramfs(entries []entry) (string, error) {
	step := o.Reporter.Begin("Building the twin initramfs")

	sum, err := digest(entries)
	if err != nil {
		return "", step.Done(err)
	}

	dir := filepath.Join(o.CacheDir, sum)
	path := filepath.Join(dir, initrdName)

	if _, err := os.Stat(path); err == nil {
		step.Skip("cached " + sum)

		return path, nil
	}

	return path, step.Done(writeAtomically(path, entries))
}

func writeAtomically(path string, entries []entry) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create image dir: %w", err)
	}

	return atomicfile.Write(path, 0o644, func(f *os.File) error { return writeInitramfs(f, entries) })
}

// buildAgent returns the twin agent: the prebuilt one when there is one (prebuilt.Path), else
// built statically (CGO_ENABLED=0: the guest has no libc) into the cache dir, as prebuilt.Build
// builds it. Go's build cache makes a rebuild a relink.
func buildAgent(ctx context.Context, o Options) (string, error) {
	step := o.Reporter.Begin("Building the twin agent")

	if path, ok := prebuilt.Path(prebuilt.TwinAgent); ok {
		step.Skip("prebuilt " + path)

		return path, nil
	}

	prog, err := prebuilt.Lookup(prebuilt.TwinAgent)
	if err != nil {
		return "", step.Done(err)
	}

	out := filepath.Join(o.CacheDir, "agent", "cozylab-twin")
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return "", step.Done(fmt.Errorf("create agent dir: %w", err))
	}

	f, err := os.CreateTemp(filepath.Dir(out), ".cozylab-twin-*")
	if err != nil {
		return "", step.Done(fmt.Errorf("create agent file: %w", err))
	}

	tmp := f.Name()
	if err := f.Close(); err != nil {
		return "", step.Done(fmt.Errorf("create agent file: %w", err))
	}

	cmd, err := prog.Command(ctx, o.RepoRoot, tmp)
	if err != nil {
		return "", step.Done(errors.Join(fmt.Errorf("build the twin agent: %w", err), os.Remove(tmp)))
	}

	if _, err := command.Run(cmd); err != nil {
		return "", step.Done(errors.Join(fmt.Errorf("build the twin agent: %w", err), os.Remove(tmp)))
	}

	if err := os.Rename(tmp, out); err != nil {
		return "", step.Done(fmt.Errorf("install the twin agent: %w", err))
	}

	return out, step.Done(nil)
}
