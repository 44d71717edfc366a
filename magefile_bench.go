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

var sandboxLine = regexp.MustCompile(`^BenchmarkSandbox/(\w+)\S*\s+\d+\s+([\d.]+) ns/op(?:\s+([\d.]+) MB/s)?(?:\s+([\d.]+) (ms/conn|s-apply))?`)

// Sandbox measures the sandbox in a fresh local parent lab: a cold sandbox:apply (image built and pushed, pod started, in-pod lab up), and through sandbox:proxy — one port-forward connection to the pod — the cost of one connection and the throughput of one connection.
func (Bench) Sandbox(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-tags=integration", "-run=^$", "-bench=^BenchmarkSandbox$",
		"-benchtime=20x", "-timeout=30m", "./sandbox/")
	var out bytes.Buffer
	cmd.Stdout = io.MultiWriter(&out, os.Stderr)
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run the sandbox benchmark: %w", err)
	}
	figures := map[string]string{}
	sc := bufio.NewScanner(&out)
	for sc.Scan() {
		m := sandboxLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		switch m[1] {
		case "apply":
			figures["sandbox:apply (cold, fresh parent)"] = m[4] + " s"
		case "connect":
			figures["proxy: one connection (dial to first bytes)"] = m[4] + " ms"
		case "throughput":
			figures["proxy: one connection's throughput"] = m[3] + " MB/s"
		}
	}
	if len(figures) != 3 {
		return fmt.Errorf("the benchmark printed %d of 3 figures", len(figures))
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 3, ' ', 0)
	for _, k := range []string{"sandbox:apply (cold, fresh parent)", "proxy: one connection (dial to first bytes)", "proxy: one connection's throughput"} {
		fmt.Fprintf(w, "%s\t%s\n", k, figures[k])
	}
	return w.Flush()
}
