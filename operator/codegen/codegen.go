package codegen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"github.com/cozylab/cozylab/internal/atomicfile"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/operator/flux"
)

// Options say where the repository is and where progress goes.
type Options struct {
	// Repo is the repository root; the working directory when empty.
	Repo string
	// Progress receives one step per generator (and the binaries cache's steps); progress.Discard
	// when nil.
	Progress progress.Reporter
	// Cache builds controller-gen; the default binaries cache, reporting to Progress, when nil.
	Cache *bincache.Cache
}

func (o Options) repo() string {
	if o.Repo == "" {
		return "."
	}
	return o.Repo
}

func (o Options) reporter() progress.Reporter {
	if o.Progress == nil {
		return progress.Discard
	}
	return o.Progress
}

// controllerGen builds controller-gen into the binaries cache if needed and returns its path.
func (o Options) controllerGen(ctx context.Context) (string, error) {
	cache := o.Cache
	if cache == nil {
		cache = &bincache.Cache{Progress: o.reporter()}
	}
	paths, err := cache.Ensure(ctx, bincache.ControllerGen)
	if err != nil {
		return "", err
	}
	return paths[bincache.ControllerGen], nil
}

// Generate moves the Flux API modules of the controller-gen tools module to the versions of
// operator/flux, regenerates every generated file into a temporary directory and then writes
// into the repository only the files that changed, removing those no longer generated (a CRD
// whose type was removed). Nothing is rewritten when everything is current, and no generated
// file is ever missing from the repository midway.
func Generate(ctx context.Context, opts Options) error {
	rep := opts.reporter()
	step := rep.Begin("Flux API modules at the versions in operator/flux/versions.go")
	if err := step.Done(pinFluxAPIs(ctx, opts.repo())); err != nil {
		return err
	}
	return regenerate(ctx, opts, func(tmp string, gens []generator) error {
		stale, err := staleFiles(opts.repo(), tmp, gens)
		if err != nil {
			return err
		}
		step := rep.Begin("Updating the generated files of the repository")
		if len(stale) == 0 {
			step.Skip("all current")
			return nil
		}
		step.Status("%d changed", len(stale))
		return step.Done(update(opts.repo(), tmp, stale))
	})
}

// Check fails when a generated file of the repository is stale (it regenerates everything into a
// temporary directory and names each file that differs, is missing or should be gone), or when
// the controller-gen tools module pins other Flux API versions than operator/flux: the CRDs
// must come from the API the operator installs.
func Check(ctx context.Context, opts Options) error {
	pinned := fluxAPIsPinned(filepath.Join(opts.repo(), controllerGenModule, "go.mod"), flux.Components())
	current := regenerate(ctx, opts, func(tmp string, gens []generator) error {
		stale, err := staleFiles(opts.repo(), tmp, gens)
		if err != nil {
			return err
		}
		if len(stale) > 0 {
			return fmt.Errorf("generated files are stale (run go run mage.go gen and commit):\n  %s", strings.Join(stale, "\n  "))
		}
		return nil
	})
	return errors.Join(pinned, current)
}

// regenerate runs every generator into a temporary directory and hands it to then.
func regenerate(ctx context.Context, opts Options, then func(tmp string, gens []generator) error) (err error) {
	cg, err := opts.controllerGen(ctx)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "cozylab-gen-")
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	defer func() {
		if rerr := os.RemoveAll(tmp); rerr != nil {
			err = errors.Join(err, fmt.Errorf("remove temporary directory: %w", rerr))
		}
	}()
	gens := generators()
	if err := generate(ctx, opts.reporter(), cg, opts.repo(), tmp, gens); err != nil {
		return err
	}
	return then(tmp, gens)
}

// pinFluxAPIs moves the Flux API modules of the controller-gen tools module to flux.Components.
func pinFluxAPIs(ctx context.Context, repo string) error {
	dir := filepath.Join(repo, controllerGenModule)
	args := []string{"get"}
	for _, c := range flux.Components() {
		args = append(args, c.APIModule+"@"+c.Version)
	}
	for _, argv := range [][]string{args, {"mod", "tidy"}} {
		cmd := exec.CommandContext(ctx, "go", argv...)
		cmd.Dir = dir
		if _, err := command.Run(cmd); err != nil {
			return fmt.Errorf("pin the Flux API modules in %s: %w", dir, err)
		}
	}
	return nil
}

// fluxAPIsPinned checks that the go.mod at path requires the API module of every component at
// its version.
func fluxAPIsPinned(path string, components []flux.Component) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	mf, err := modfile.Parse(path, raw, nil)
	if err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	var errs []error
	for _, c := range components {
		got := ""
		for _, r := range mf.Require {
			if r.Mod.Path == c.APIModule {
				got = r.Mod.Version
			}
		}
		if got != c.Version {
			errs = append(errs, fmt.Errorf("%s requires %s %q but operator/flux pins %s: run go run mage.go gen", path, c.APIModule, got, c.Version))
		}
	}
	return errors.Join(errs...)
}

// generate runs gens with their outputs under root, a fresh directory: controller-gen (at cg)
// runs in the generators' module directories under repo.
func generate(ctx context.Context, rep progress.Reporter, cg, repo, root string, gens []generator) error {
	for _, g := range gens {
		step := rep.Begin("Generating " + g.title)
		if err := step.Done(runOne(ctx, cg, repo, root, g)); err != nil {
			return err
		}
	}
	return nil
}

// runOne writes the outputs of g under root.
func runOne(ctx context.Context, cg, repo, root string, g generator) error {
	abs, err := filepath.Abs(root)
	if err != nil {
		return fmt.Errorf("resolve output root %s: %w", root, err)
	}
	out := filepath.Join(abs, g.out)
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	if g.fn != nil {
		if err := g.fn(abs, out); err != nil {
			return fmt.Errorf("generate %s: %w", g.title, err)
		}
		return nil
	}
	cmd := exec.CommandContext(ctx, cg, g.argv(out)...)
	cmd.Dir = filepath.Join(repo, g.dir)
	if _, err := command.Run(cmd); err != nil {
		return fmt.Errorf("generate %s: %w", g.title, err)
	}
	return nil
}

// staleFiles compares the files gens own under repo with those regenerated under tmp and returns
// the repository-relative paths of every file that differs or exists on one side only, sorted.
func staleFiles(repo, tmp string, gens []generator) ([]string, error) {
	var stale []string
	for _, g := range gens {
		want, err := filepath.Glob(filepath.Join(tmp, g.out, g.owns))
		if err != nil {
			return nil, fmt.Errorf("list the outputs of %s: %w", g.title, err)
		}
		have, err := filepath.Glob(filepath.Join(repo, g.out, g.owns))
		if err != nil {
			return nil, fmt.Errorf("list the outputs of %s: %w", g.title, err)
		}
		names := map[string]bool{}
		for _, f := range append(want, have...) {
			names[filepath.Base(f)] = true
		}
		for name := range names {
			a, errA := os.ReadFile(filepath.Join(tmp, g.out, name))
			b, errB := os.ReadFile(filepath.Join(repo, g.out, name))
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				stale = append(stale, filepath.Join(g.out, name))
			}
		}
	}
	sort.Strings(stale)
	return stale, nil
}

// update brings the repository-relative files stale of repo to their state under tmp: written
// when tmp has them, removed when it does not. Each file is replaced by a rename, so a reader
// (go build, git add) sees the old or the new file, never a missing or partial one.
func update(repo, tmp string, stale []string) error {
	var errs []error
	for _, rel := range stale {
		dst := filepath.Join(repo, rel)
		raw, err := os.ReadFile(filepath.Join(tmp, rel))
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Remove(dst); err != nil && !errors.Is(err, os.ErrNotExist) {
				errs = append(errs, fmt.Errorf("remove stale %s: %w", rel, err))
			}
		case err != nil:
			errs = append(errs, fmt.Errorf("read generated %s: %w", rel, err))
		default:
			errs = append(errs, replaceFile(dst, raw))
		}
	}
	return errors.Join(errs...)
}

// replaceFile writes raw to path (mode 0644) atomically, creating its directory.
func replaceFile(path string, raw []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	return atomicfile.WriteFile(path, raw, 0o644)
}
