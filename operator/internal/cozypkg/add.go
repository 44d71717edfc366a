package cozypkg

import (
	"bufio"
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Selection names packages: given as arguments, or named in files.
type Selection struct {
	// Names are package names given on the command line.
	Names []string
	// Files are YAML files, or directories of them, naming packages (see ReadManifests).
	Files []string
}

// Add installs the selected packages with their dependencies. A package whose Package
// document is in a file is created from it; otherwise (or when that create fails) the
// packages its PackageSource depends on are walked, a variant is asked for each one not yet
// installed, and the Packages are created dependencies first.
func (e *Env) Add(ctx context.Context, sel Selection) error {
	names, manifests, err := requested(sel.Names, sel.Files, e.Err)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return errors.New("no packages specified")
	}
	in := bufio.NewReader(e.In)
	for _, name := range names {
		if m, ok := manifests[name]; ok && m.Package != nil {
			err := e.Client.Create(ctx, m.Package.DeepCopy())
			if err == nil {
				fmt.Fprintf(e.Err, "✓ Added Package %s\n", name)
				continue
			}
			if !apierrors.IsAlreadyExists(err) {
				fmt.Fprintf(e.Err, "⚠ Package %s from %s not created (%v), selecting a variant instead\n", name, m.Path, err)
			}
		}
		if err := e.install(ctx, in, name); err != nil {
			return err
		}
	}
	return nil
}

// install creates the Package root and every missing Package it depends on.
func (e *Env) install(ctx context.Context, in *bufio.Reader, root string) error {
	sourceList, err := e.sources(ctx)
	if err != nil {
		return err
	}
	pkgs, err := e.packages(ctx)
	if err != nil {
		return err
	}
	sources, installed := sourceMap(sourceList), packageMap(pkgs)
	if _, ok := sources[root]; !ok {
		return fmt.Errorf("PackageSource %s not found", root)
	}
	tree, requesters := dependencyTree(sources, root)
	order, err := TopoOrder(tree)
	if err != nil {
		return fmt.Errorf("order dependencies of %s: %w", root, err)
	}
	fmt.Fprintf(e.Err, "Installing %s and its dependencies...\n\n", root)
	variants, err := e.chooseVariants(in, order, sources, installed, requesters)
	if err != nil {
		return err
	}
	for _, name := range order {
		if _, ok := installed[name]; ok {
			continue
		}
		pkg := &v1alpha1.Package{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       v1alpha1.PackageSpec{Variant: variants[name]},
		}
		if err := e.Client.Create(ctx, pkg); err != nil {
			return fmt.Errorf("create Package %s: %w", name, err)
		}
		fmt.Fprintf(e.Err, "✓ Added Package %s\n", name)
	}
	return nil
}

// chooseVariants asks, in order, the variant of every package not installed yet. A dependency
// without a PackageSource fails before the first question, and nothing is created before every
// answer is in, so a failed or abandoned prompt leaves the cluster untouched.
func (e *Env) chooseVariants(in *bufio.Reader, order []string, sources map[string]*v1alpha1.PackageSource,
	installed map[string]*v1alpha1.Package, requesters map[string]string) (map[string]string, error) {
	for _, name := range order {
		if _, ok := installed[name]; !ok && sources[name] == nil {
			return nil, fmt.Errorf("PackageSource %s not found (required by %s)", name, requesters[name])
		}
	}
	variants := map[string]string{}
	for _, name := range order {
		if pkg, ok := installed[name]; ok {
			fmt.Fprintf(e.Err, "✓ %s (already installed, variant: %s)\n", name, pkg.ActiveVariant())
			continue
		}
		v, err := selectVariant(in, e.Err, sources[name])
		if err != nil {
			return nil, err
		}
		variants[name] = v
	}
	return variants, nil
}
