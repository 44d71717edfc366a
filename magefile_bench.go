//go:build mage

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"regexp"
	"text/tabwriter"

	"github.com/magefile/mage/mg"
)

// Bench groups the benchmarks that print figures.
type Bench mg.Namespace

var scaleLine = regexp.MustCompile(`^BenchmarkOperatorScale/N=(\d+)\S*\s+\d+\s+\d+ ns/op\s+([\d.]+) MiB-peak-rss\s+([\d.]+) s-to-ready`)

// Operator measures the operator at N = 100, 500, 1000 Packages (3 components, 2 namespaces, dependency chains of 10 each): time until every HelmRelease exists and every Package is Ready, and peak RSS.
func (Bench) Operator(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-tags=integration", "-run=^$", "-bench=^BenchmarkOperatorScale$",
		"-benchtime=1x", "-timeout=60m", "./operator/internal/app/")
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, os.Stderr)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run the operator benchmark: %w", err)
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "Packages\tHelmReleases\ttime to all Ready\tper Package\toperator peak RSS\t")
	rows := 0
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		m := scaleLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		var n int
		var rss, secs float64
		fmt.Sscan(m[1], &n)
		fmt.Sscan(m[2], &rss)
		fmt.Sscan(m[3], &secs)
		fmt.Fprintf(w, "%d\t%d\t%.1f s\t%.1f ms\t%.0f MiB\t\n", n, 3*n, secs, secs*1000/float64(n), rss)
		rows++
	}
	if rows == 0 {
		return fmt.Errorf("the benchmark printed no result lines")
	}
	return w.Flush()
}
