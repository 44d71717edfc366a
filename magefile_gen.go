//go:build mage

package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
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
	fluxcrds "github.com/cozylab/cozylab/operator/flux/crds"
)

// controllerGenModule is the tools module controller-gen runs in for the Flux CRDs.
const controllerGenModule = "internal/bincache/tools/controller-gen"

// generator is one controller-gen run: its arguments (with {out} standing for the output
// directory), the module directory it runs in, the output directory (repository-relative) and
// the files it owns there.
type generator struct {
	title string
	dir   string
	args  []string
	// fn, when set, generates into the output directory instead of controller-gen.
	fn   func(out string) error
	out  string
	owns string // glob of the generated files in out
}

var generators = []generator{
	{
		title: "deepcopy functions of operator/api", dir: ".",
		args: []string{"object", "paths=./operator/api/...", "output:object:dir={out}"},
		out:  "operator/api/v1alpha1", owns: "zz_generated.deepcopy.go",
	},
	{
		title: "CRDs of operator/api", dir: ".",
		args: []string{"crd:crdVersions=v1", "paths=./operator/api/...", "output:crd:dir={out}"},
		out:  "operator/crds", owns: "*.yaml",
	},
	{
		title: "Flux CRDs", dir: controllerGenModule,
		args: append([]string{"crd:crdVersions=v1"}, append(fluxPaths(), "output:crd:dir={out}")...),
		out:  "operator/flux/crds", owns: "*.yaml",
	},
	// The flux-aio package is the operator's embedded Flux, rendered: one source of truth.
	{title: "flux-aio CRDs", fn: copyFluxCRDs, out: "packages/core/flux-aio/crds", owns: "*.yaml"},
	{title: "flux-aio manifests", fn: writeFluxObjects, out: "packages/core/flux-aio/templates", owns: "flux.yaml"},
}

// copyFluxCRDs copies the Flux CRDs the operator embeds into the flux-aio chart's crds/.
func copyFluxCRDs(out string) error {
	names, err := fs.Glob(fluxcrds.FS, "*.yaml")
	if err != nil {
		return err
	}
	for _, n := range names {
		raw, err := fs.ReadFile(fluxcrds.FS, n)
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(out, n), raw, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", n, err)
		}
	}
	return nil
}

// writeFluxObjects renders the operator's Flux objects into the flux-aio chart.
func writeFluxObjects(out string) error {
	raw, err := flux.YAML()
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, "flux.yaml"), raw, 0o644)
}

func fluxPaths() []string {
	var paths []string
	for _, c := range flux.Components() {
		paths = append(paths, "paths="+c.APIModule+"/...")
	}
	return paths
}

// Gen regenerates every generated file: deepcopy and CRDs of operator/api, and the Flux CRDs at the versions in operator/flux.
func Gen(ctx context.Context) error {
	return withTerminal(func(term *progress.Terminal) error {
		step := term.Begin("Flux API modules at the versions in operator/flux/versions.go")
		if err := step.Done(pinFluxAPIs(ctx)); err != nil {
			return err
		}
		return generate(ctx, term, ".")
	})
}

// pinFluxAPIs moves the Flux API modules of the controller-gen tools module to flux.Components.
func pinFluxAPIs(ctx context.Context) error {
	args := []string{"get"}
	for _, c := range flux.Components() {
		args = append(args, c.APIModule+"@"+c.Version)
	}
	if err := goQuiet(ctx, controllerGenModule, args...); err != nil {
		return err
	}
	return goQuiet(ctx, controllerGenModule, "mod", "tidy")
}

// fluxAPIsPinned checks the controller-gen tools module requires the Flux versions of
// operator/flux, so the CRDs are generated from the API the operator installs.
func fluxAPIsPinned() error {
	path := filepath.Join(controllerGenModule, "go.mod")
	raw, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	mf, err := modfile.Parse(path, raw, nil)
	if err != nil {
		return fmt.Errorf("parse %s: %w", path, err)
	}
	var errs []error
	for _, c := range flux.Components() {
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

// generate runs every generator with its output under root ("." for the repository itself).
func generate(ctx context.Context, rep progress.Reporter, root string) error {
	paths, err := (&bincache.Cache{Progress: rep}).Ensure(ctx, bincache.ControllerGen)
	if err != nil {
		return err
	}
	cg := paths[bincache.ControllerGen]
	for _, g := range generators {
		step := rep.Begin("Generating " + g.title)
		out, err := filepath.Abs(filepath.Join(root, g.out))
		if err != nil {
			return step.Done(err)
		}
		if err := os.MkdirAll(out, 0o755); err != nil {
			return step.Done(fmt.Errorf("create %s: %w", out, err))
		}
		// Stale outputs (a CRD whose type was removed) go first; controller-gen writes the rest.
		old, _ := filepath.Glob(filepath.Join(out, g.owns))
		for _, f := range old {
			if err := os.Remove(f); err != nil {
				return step.Done(fmt.Errorf("remove stale %s: %w", f, err))
			}
		}
		if g.fn != nil {
			if err := g.fn(out); err != nil {
				return step.Done(fmt.Errorf("generate %s: %w", g.title, err))
			}
			step.Done(nil)
			continue
		}
		args := make([]string, len(g.args))
		for i, a := range g.args {
			args[i] = strings.ReplaceAll(a, "{out}", out)
		}
		cmd := exec.CommandContext(ctx, cg, args...)
		cmd.Dir = g.dir
		if _, err := command.Run(cmd); err != nil {
			return step.Done(fmt.Errorf("generate %s: %w", g.title, err))
		}
		step.Done(nil)
	}
	return nil
}

// generatedCurrent regenerates into a temporary directory and compares with the repository.
func generatedCurrent(ctx context.Context) error {
	tmp, err := os.MkdirTemp("", "cozylab-gen-")
	if err != nil {
		return fmt.Errorf("create temporary directory: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := errors.Join(fluxAPIsPinned(), generate(ctx, progress.Discard, tmp)); err != nil {
		return err
	}
	var stale []string
	for _, g := range generators {
		want, _ := filepath.Glob(filepath.Join(tmp, g.out, g.owns))
		have, _ := filepath.Glob(filepath.Join(g.out, g.owns))
		names := map[string]bool{}
		for _, f := range append(want, have...) {
			names[filepath.Base(f)] = true
		}
		for name := range names {
			a, errA := os.ReadFile(filepath.Join(tmp, g.out, name))
			b, errB := os.ReadFile(filepath.Join(g.out, name))
			if errA != nil || errB != nil || !bytes.Equal(a, b) {
				stale = append(stale, filepath.Join(g.out, name))
			}
		}
	}
	if len(stale) > 0 {
		sort.Strings(stale)
		return fmt.Errorf("generated files are stale (run go run mage.go gen and commit):\n  %s", strings.Join(stale, "\n  "))
	}
	return nil
}
