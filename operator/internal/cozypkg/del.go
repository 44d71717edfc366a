package cozypkg

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Delete deletes the selected Packages and every installed Package depending on them, after
// a confirmation read from In; dependents are deleted before their dependencies. Names that
// are not installed are skipped with a warning.
func (e *Env) Delete(ctx context.Context, sel Selection) error {
	names, _, err := requested(sel.Names, sel.Files, e.Err)
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return errors.New("no packages specified")
	}
	pkgs, err := e.packages(ctx)
	if err != nil {
		return err
	}
	sources, err := e.sources(ctx)
	if err != nil {
		return err
	}
	installed := packageMap(pkgs)
	var roots []string
	for _, n := range names {
		if _, ok := installed[n]; !ok {
			fmt.Fprintf(e.Err, "⚠ Package %s is not installed, skipping\n", n)
			continue
		}
		roots = append(roots, n)
	}
	if len(roots) == 0 {
		fmt.Fprintf(e.Err, "No packages found to delete\n")
		return nil
	}
	g := installedGraph(sourceMap(sources), installed)
	doomed := Dependents(g, roots)
	order, err := TopoOrder(g.restrict(doomed))
	if err != nil {
		return fmt.Errorf("order packages for deletion: %w", err)
	}
	slices.Reverse(order)

	describeDeletion(e.Err, roots, doomed)
	ok, err := confirm(bufio.NewReader(e.In), e.Err, "Do you want to continue? [y/N]: ")
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("deletion cancelled")
	}
	return e.deleteAll(ctx, order)
}

// describeDeletion lists what will go: the requested packages, then their dependents.
func describeDeletion(w io.Writer, roots, doomed []string) {
	var dependents []string
	for _, n := range doomed {
		if !slices.Contains(roots, n) {
			dependents = append(dependents, n)
		}
	}
	requested := slices.Sorted(slices.Values(roots))
	fmt.Fprintf(w, "\nThe following packages will be deleted:\n\n")
	fmt.Fprintf(w, "Requested packages:\n")
	for _, n := range requested {
		fmt.Fprintf(w, "  - %s\n", n)
	}
	fmt.Fprintln(w)
	if len(dependents) > 0 {
		fmt.Fprintf(w, "Dependent packages (will also be deleted):\n")
		for _, n := range dependents {
			fmt.Fprintf(w, "  - %s\n", n)
		}
		fmt.Fprintln(w)
	}
	fmt.Fprintf(w, "Total: %d package(s)\n\n", len(doomed))
}

// deleteAll deletes the Packages in order; one already gone is a warning.
func (e *Env) deleteAll(ctx context.Context, order []string) error {
	for _, name := range order {
		pkg := &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if err := e.Client.Delete(ctx, pkg); err != nil {
			if apierrors.IsNotFound(err) {
				fmt.Fprintf(e.Err, "⚠ Package %s not found, skipping\n", name)
				continue
			}
			return fmt.Errorf("delete Package %s: %w", name, err)
		}
		fmt.Fprintf(e.Err, "✓ Deleted Package %s\n", name)
	}
	return nil
}
