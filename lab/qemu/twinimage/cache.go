package twinimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/cozylab/cozylab/internal/atomicfile"
	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
)

// initrdName is the initramfs file in its digest directory: uncompressed newc.
const initrdName = "initramfs.cpio"

// formatVersion names how an initramfs is made from its inputs: the archive format and which
// package files are kept. Change it with writeInitramfs, addDeb or keepPackageFile, so the
// same inputs made differently get a new digest.
const formatVersion = "newc, uncompressed; packages filtered v1"

// cachedInitramfs returns <cache>/<digest>/initramfs.cpio, writing it (temp file, then
// rename) only when it is not there yet.
func (o Options) cachedInitramfs(l layout) (string, error) {
	step := o.Reporter.Begin("Building the twin initramfs")

	sum, err := digest(l)
	if err != nil {
		return "", step.Done(err)
	}

	dir := filepath.Join(o.CacheDir, sum)
	path := filepath.Join(dir, initrdName)

	if _, err := os.Stat(path); err == nil {
		// Used now: the newest, so pruning keeps it while a lab boots from it.
		markUsed(o.CacheDir, dir)

		step.Skip("cached " + sum)

		return path, nil
	}

	if err := writeAtomically(path, l); err != nil {
		return "", step.Done(err)
	}

	if info, err := os.Stat(path); err == nil {
		step.Status("%s, %d MiB", sum, info.Size()>>20)
	}

	markUsed(o.CacheDir, dir)

	if err := prune(o.CacheDir, keepImages); err != nil {
		return "", step.Done(err)
	}

	return path, step.Done(nil)
}

// keepImages is how many initramfs the cache keeps (each is about 600 MB): the newest used or
// built, so a lab still booting from an older one after a rebuild finds it.
const keepImages = 4

// markUsed makes dir the most recently used image of cacheDir: its modification time becomes
// now, or just after the newest other one's. The kernel stamps files with a coarse clock, so
// images built or used in quick succession could otherwise tie, and pruning would pick among
// them at random.
func markUsed(cacheDir, dir string) {
	t := time.Now()

	if entries, err := os.ReadDir(cacheDir); err == nil {
		for _, e := range entries {
			if info, err := e.Info(); err == nil && e.IsDir() && filepath.Join(cacheDir, e.Name()) != dir && !info.ModTime().Before(t) {
				t = info.ModTime().Add(time.Microsecond)
			}
		}
	}

	_ = os.Chtimes(dir, t, t) //nolint:errcheck // only the pruning order depends on it
}

// prune removes all but the keep most recently used image directories of cacheDir.
func prune(cacheDir string, keep int) error {
	entries, err := os.ReadDir(cacheDir)
	if err != nil {
		return fmt.Errorf("read the twin image cache: %w", err)
	}

	type image struct {
		path string
		used time.Time
	}

	var images []image

	for _, e := range entries {
		if info, err := e.Info(); err == nil && e.IsDir() {
			images = append(images, image{filepath.Join(cacheDir, e.Name()), info.ModTime()})
		}
	}

	slices.SortFunc(images, func(a, b image) int { return b.used.Compare(a.used) })

	for _, img := range images[min(keep, len(images)):] {
		if err := os.RemoveAll(img.path); err != nil {
			return fmt.Errorf("prune the twin image cache: %w", err)
		}
	}

	return nil
}

func writeAtomically(path string, l layout) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("create image dir: %w", err)
	}

	return atomicfile.Write(path, 0o644, func(f *os.File) error { return writeInitramfs(f, l) })
}

// digest names an initramfs by what goes into it: formatVersion, each entry's name, mode, link
// target and content, and each package by apt's SHA-256 of its .deb (Fetch checked the file
// against it), which stands for every file the package brings.
func digest(l layout) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n", formatVersion)

	for _, e := range l.entries {
		fmt.Fprintf(h, "%s %o %q %d\n", e.Name, uint32(e.Mode), e.Link, len(e.Data))
		h.Write(e.Data)

		if e.Source != "" {
			if err := hashFile(h, e.Source); err != nil {
				return "", err
			}
		}
	}

	for _, d := range l.debs {
		fmt.Fprintf(h, "deb %s\n", d.SHA256)
	}

	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()

	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}

	return nil
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
