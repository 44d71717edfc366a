package cozypkg

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Column limits of the tables: a longer value is cut and ends in "...".
const (
	variantsWidth = 28
	statusWidth   = 48
)

// ListOptions selects what List prints.
type ListOptions struct {
	// Installed lists Packages instead of PackageSources.
	Installed bool
	// Components adds one indented row per component under each package.
	Components bool
}

// List prints PackageSources (or, with Installed, Packages) as a table on Out.
func (e *Env) List(ctx context.Context, opts ListOptions) error {
	sources, err := e.sources(ctx)
	if err != nil {
		return err
	}
	if !opts.Installed {
		return writeTable(e.Out, sourceRows(sources, opts.Components))
	}
	pkgs, err := e.packages(ctx)
	if err != nil {
		return err
	}
	return writeTable(e.Out, packageRows(pkgs, sourceMap(sources), opts.Components))
}

// sourceRows is the PackageSource table: NAME VARIANTS READY STATUS, and with components one
// row per (variant, component) of every variant, installable or not.
func sourceRows(sources []v1alpha1.PackageSource, components bool) [][]string {
	rows := [][]string{{"NAME", "VARIANTS", "READY", "STATUS"}}
	for i := range sources {
		ps := &sources[i]
		names := make([]string, 0, len(ps.Spec.Variants))
		for _, v := range ps.Spec.Variants {
			names = append(names, v.Name)
		}
		ready, status := readyColumns(ps.Status.Conditions)
		rows = append(rows, []string{ps.Name, truncate(strings.Join(names, ","), variantsWidth), ready, status})
		if components {
			for _, v := range ps.Spec.Variants {
				rows = append(rows, componentRows(ps.Name, &v)...)
			}
		}
	}
	return rows
}

// packageRows is the Package table: NAME VARIANT READY STATUS, and with components the
// components of the Package's active variant in its PackageSource.
func packageRows(pkgs []v1alpha1.Package, sources map[string]*v1alpha1.PackageSource, components bool) [][]string {
	rows := [][]string{{"NAME", "VARIANT", "READY", "STATUS"}}
	for i := range pkgs {
		pkg := &pkgs[i]
		ready, status := readyColumns(pkg.Status.Conditions)
		rows = append(rows, []string{pkg.Name, pkg.ActiveVariant(), ready, status})
		if !components {
			continue
		}
		if ps, ok := sources[pkg.Name]; ok {
			if v, ok := ps.FindVariant(pkg.ActiveVariant()); ok {
				rows = append(rows, componentRows(pkg.Name, v)...)
			}
		}
	}
	return rows
}

func componentRows(pkg string, v *v1alpha1.Variant) [][]string {
	rows := make([][]string, 0, len(v.Components))
	for _, c := range v.Components {
		rows = append(rows, []string{"  " + pkg + "." + c.Name, v.Name, "", ""})
	}
	return rows
}

// readyColumns is the READY and STATUS cells: the Ready condition's status and message, or
// Unknown and nothing without one.
func readyColumns(conditions []metav1.Condition) (string, string) {
	c := meta.FindStatusCondition(conditions, v1alpha1.ConditionReady)
	if c == nil {
		return "Unknown", ""
	}
	// A tab or a newline in a message would break the table's columns.
	message := strings.Join(strings.Fields(c.Message), " ")
	return string(c.Status), truncate(message, statusWidth)
}

// truncate cuts s longer than width characters to width-3 of them and "...".
func truncate(s string, width int) string {
	r := []rune(s)
	if len(r) <= width {
		return s
	}
	return string(r[:width-3]) + "..."
}

// writeTable aligns rows in columns three spaces apart. Every row has the same number of
// cells, so empty trailing cells keep the columns of the rows around them aligned; the blanks
// they leave at the end of a line are trimmed.
func writeTable(w io.Writer, rows [][]string) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 3, ' ', 0)
	for _, row := range rows {
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("align table: %w", err)
	}
	var out strings.Builder
	for _, line := range strings.SplitAfter(buf.String(), "\n") {
		if line != "" {
			out.WriteString(strings.TrimRight(line, " \n") + "\n")
		}
	}
	if _, err := io.WriteString(w, out.String()); err != nil {
		return fmt.Errorf("write table: %w", err)
	}
	return nil
}
