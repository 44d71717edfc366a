package codegen

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/cozylab/cozylab/operator/flux"
)

// controllerGenModule is the binaries cache's tools module of controller-gen (repository
// relative): the Flux CRDs are generated in it, since it requires the Flux API modules at the
// versions of operator/flux.
const controllerGenModule = "internal/bincache/tools/controller-gen"

// fluxCRDs is where the Flux CRDs are generated, for the operator to embed (operator/flux/crds).
const fluxCRDs = "operator/flux/crds"

// generator is one generated output: a controller-gen run or a Go function writing into a
// directory of the repository, and the files it owns there.
type generator struct {
	title string
	// dir is the module directory controller-gen runs in, repository-relative.
	dir string
	// args are controller-gen's arguments; {out} stands for the output directory.
	args []string
	// fn, when set, writes into the output directory instead of controller-gen; root is where the
	// generators before it wrote (the repository, or Check's temporary directory).
	fn func(root, out string) error
	// out is the output directory, repository-relative.
	out string
	// owns is the glob of the files the generator owns in out.
	owns string
}

// argv is the controller-gen arguments with the output directory filled in.
func (g generator) argv(out string) []string {
	args := make([]string, len(g.args))
	for i, a := range g.args {
		args[i] = strings.ReplaceAll(a, "{out}", out)
	}
	return args
}

// generators lists every generated output, in the order they are made: the flux-aio chart is
// rendered from the operator's embedded Flux, so its CRDs are copied after they are generated.
func generators() []generator {
	return []generator{
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
			args: append(append([]string{"crd:crdVersions=v1"}, fluxPaths()...), "output:crd:dir={out}"),
			out:  fluxCRDs, owns: "*.yaml",
		},
		// The flux-aio package is the operator's embedded Flux, rendered: one source of truth.
		{title: "flux-aio CRDs", fn: copyFluxCRDs, out: "packages/core/flux-aio/crds", owns: "*.yaml"},
		{title: "flux-aio manifests", fn: writeFluxObjects, out: "packages/core/flux-aio/templates", owns: "flux.yaml"},
	}
}

// fluxPaths are the controller-gen paths= arguments of the Flux API modules.
func fluxPaths() []string {
	var paths []string
	for _, c := range flux.Components() {
		paths = append(paths, "paths="+c.APIModule+"/...")
	}
	return paths
}

// copyFluxCRDs copies the Flux CRDs the operator embeds, as just generated under root, into the
// flux-aio chart's crds/. Reading them from disk rather than from the embedded copy compiled
// into this program makes one gen run enough after a Flux bump.
func copyFluxCRDs(root, out string) error {
	names, err := filepath.Glob(filepath.Join(root, fluxCRDs, "*.yaml"))
	if err != nil {
		return fmt.Errorf("list the Flux CRDs: %w", err)
	}
	if len(names) == 0 {
		return fmt.Errorf("copy the Flux CRDs: none in %s", filepath.Join(root, fluxCRDs))
	}
	for _, n := range names {
		raw, err := os.ReadFile(n)
		if err != nil {
			return fmt.Errorf("read %s: %w", n, err)
		}
		if err := os.WriteFile(filepath.Join(out, filepath.Base(n)), raw, 0o644); err != nil {
			return fmt.Errorf("write %s: %w", filepath.Base(n), err)
		}
	}
	return nil
}

// writeFluxObjects renders the operator's Flux objects into the flux-aio chart.
func writeFluxObjects(_, out string) error {
	raw, err := flux.YAML()
	if err != nil {
		return fmt.Errorf("render the operator's Flux objects: %w", err)
	}
	if err := os.WriteFile(filepath.Join(out, "flux.yaml"), raw, 0o644); err != nil {
		return fmt.Errorf("write flux.yaml: %w", err)
	}
	return nil
}
