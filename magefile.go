//go:build mage

// cozylab — the bare-metal lab, test harness and operator of a Cozystack-style platform.
// `go run mage.go e2e` brings the platform up; `go run mage.go test` runs every test.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/magefile/mage/mg"

	"github.com/cozylab/cozylab/cli"
	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/operator/codegen"
)

// Test groups the test targets; `test` alone runs all of them.
type Test mg.Namespace

// TEST runs everything: verify, the binaries cache, then the unit and integration tests (the README's test command).
//
// The odd spelling lets a target named "test" live beside the "test:" namespace (mage lowers
// target names; Go cannot have a func and a type both named Test). Verify failures do not stop
// the tests: CI shows every problem at once.
func TEST(ctx context.Context) error {
	return cli.WithTerminal(func(term *progress.Terminal) error {
		return errors.Join(verify(ctx, term), integrationTests(ctx, term))
	})
}

// Unit runs the unit tests: no binaries, no cluster, seconds.
func (Test) Unit(ctx context.Context) error {
	return cli.WithTerminal(func(term *progress.Terminal) error {
		return goTest(ctx, term, "", "-count=1", "./...")
	})
}

// Integration builds the binaries cache and runs the tests against real components (unit tests run too).
func (Test) Integration(ctx context.Context) error {
	return cli.WithTerminal(func(term *progress.Terminal) error { return integrationTests(ctx, term) })
}

// integrationTests runs every test with the binaries cache built, then fails naming each lab
// program the tests left running (and kills it). Programs already running before the tests (a
// lab the developer keeps up with lab:up or e2e) are theirs and stay untouched.
func integrationTests(ctx context.Context, term *progress.Terminal) error {
	if _, err := (&bincache.Cache{Progress: term}).Ensure(ctx); err != nil {
		return err
	}
	programs, err := labPrograms()
	if err != nil {
		return err
	}
	before, err := programs.Baseline()
	if err != nil {
		return err
	}
	err = runTestsThenGuestTests(ctx, term)
	if left := before.KillNew(); left != nil {
		err = errors.Join(err, fmt.Errorf("check for programs of the binaries cache or QEMU outliving the tests: %w", left))
	}
	return err
}

// guestPackages are the packages whose tests boot QEMU guests. They run after every other
// package, one package at a time: TCG guests need the host's two cores to themselves, and beside
// another test package (an API server, a sandbox, the e2e) CI measured the QEMU lab's tests at
// twice their time alone, with waits running out in the starved guests.
var guestPackages = []string{"./lab/qemu", "./lab/qemu/vm", "./lab/qemu/twinimage", "./lab/choose"}

// runTestsThenGuestTests runs every package but guestPackages (two at a time, go test's default
// here), then guestPackages one after another. Both runs happen even if the first fails.
func runTestsThenGuestTests(ctx context.Context, term *progress.Terminal) error {
	others, err := packagesExcept(ctx, guestPackages)
	if err != nil {
		return err
	}
	flags := []string{"-count=1", "-timeout=45m", "-tags=integration"}
	first := goTest(ctx, term, fmt.Sprintf("go test %s (%d packages, all but the guest ones)", strings.Join(flags, " "), len(others)), append(flags, others...)...)
	second := goTest(ctx, term, "", append(append(flags, "-p=1"), guestPackages...)...)
	return errors.Join(first, second)
}

// packagesExcept lists the module's packages (with the integration tag) but the given ones
// (written ./dir), failing if one of those is not a package: a renamed package must not drop
// out of both runs unnoticed.
func packagesExcept(ctx context.Context, except []string) ([]string, error) {
	out, err := exec.CommandContext(ctx, "go", "list", "-tags=integration", "-f", "{{.Dir}}", "./...").Output()
	if err != nil {
		return nil, fmt.Errorf("go list ./...: %w", err)
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, err
	}
	skip := map[string]bool{}
	for _, e := range except {
		skip[filepath.Clean(e)] = true
	}
	var rest []string
	found := 0
	for _, dir := range strings.Fields(string(out)) {
		rel, err := filepath.Rel(wd, dir)
		if err != nil {
			return nil, err
		}
		if skip[rel] {
			found++
			continue
		}
		rest = append(rest, "./"+filepath.ToSlash(rel))
	}
	if found != len(except) {
		return nil, fmt.Errorf("go list ./... found %d of the guest packages %v: update guestPackages in magefile.go", found, except)
	}
	return rest, nil
}

// labPrograms selects the programs of the binaries cache and QEMU.
func labPrograms() (process.Programs, error) {
	root, err := bincache.DefaultRoot()
	return process.Programs{Under: []string{root}, Named: []string{"qemu-system-x86_64"}}, err
}

// goTest runs go test with its output on the terminal (verbose on CI), timed for the summary.
// An empty title names the step by its command line.
func goTest(ctx context.Context, term *progress.Terminal, title string, args ...string) error {
	args = append([]string{"test"}, args...)
	if os.Getenv("CI") != "" || mg.Verbose() {
		args = append(args[:1], append([]string{"-v"}, args[1:]...)...)
	}
	start := time.Now()
	err := goCmd(ctx, args...)
	if title == "" {
		title = "go " + strings.Join(args, " ")
	}
	rec := progress.Record{Title: title, Duration: time.Since(start)}
	if err != nil {
		rec.Outcome = progress.Failed
	}
	term.Add(rec)
	return err
}

// Verify checks formatting, vet, tidy go.mod files (product and tools modules), the tools table, generated files and the import-direction rule.
func Verify(ctx context.Context) error {
	return cli.WithTerminal(func(term *progress.Terminal) error { return verify(ctx, term) })
}

func verify(ctx context.Context, term *progress.Terminal) error {
	checks := []struct {
		title string
		run   func() error
	}{
		{"gofmt", gofmtCheck},
		{"go vet", func() error { return goQuiet(ctx, "", "vet", "-tags=integration", "./...") }},
		{"go vet (magefile)", func() error { return goQuiet(ctx, "", "vet", "-tags=mage", ".") }},
		{"go mod tidy (product)", func() error { return goQuiet(ctx, "", "mod", "tidy", "-diff") }},
		{"go mod tidy (tools modules)", func() error { return tidyTools(ctx) }},
		{"tools table matches the tools modules", func() error { return goTestRun(ctx, "./internal/bincache/", "^TestToolsModules$") }},
		{"generated files are current", func() error { return codegen.Check(ctx, codegen.Options{}) }},
		{"every path a PackageSource names exists (source-watcher #368)", func() error {
			return goTestRun(ctx, "./packages/", "^TestPackageSource(PathsExist|ReferencesResolve)$")
		}},
		{"import-direction rule", func() error { return goTestRun(ctx, "./e2e/", "^TestImportDirection$") }},
	}
	var failed []string
	for _, c := range checks {
		step := term.Begin(c.title)
		if step.Done(c.run()) != nil {
			failed = append(failed, c.title)
		}
	}
	if len(failed) > 0 {
		// Each failure was printed in full on its ✗ line above.
		return fmt.Errorf("verify: %d of %d checks failed: %s", len(failed), len(checks), strings.Join(failed, ", "))
	}
	return nil
}

// goTestRun runs the tests of pkg matching pattern and fails when none ran: a renamed test must
// not turn a verify check into one that always passes.
func goTestRun(ctx context.Context, pkg, pattern string) error {
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "-run="+pattern, pkg)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go test -run=%s %s: %w\n%s", pattern, pkg, err, strings.TrimSpace(string(out)))
	}
	if !strings.Contains(string(out), "--- PASS") {
		return fmt.Errorf("go test -run=%s %s ran no test: the check's test was renamed or removed", pattern, pkg)
	}
	return nil
}

func gofmtCheck() error {
	out, err := exec.Command("gofmt", "-l", ".").CombinedOutput()
	if err != nil {
		return fmt.Errorf("gofmt: %v\n%s", err, out)
	}
	if files := strings.TrimSpace(string(out)); files != "" {
		return fmt.Errorf("not gofmt-formatted (run gofmt -w on them):\n%s", files)
	}
	return nil
}

func tidyTools(ctx context.Context) error {
	var errs []error
	for _, dir := range bincache.ModuleDirs() {
		errs = append(errs, goQuiet(ctx, filepath.Join("internal", "bincache", "tools", dir), "mod", "tidy", "-diff"))
	}
	return errors.Join(errs...)
}

// Build compiles every package of the product.
func Build(ctx context.Context) error {
	return goCmd(ctx, "build", "./...")
}

// Bins builds or checks the binaries cache (etcd, kube-apiserver, ...) and prints what it holds.
func Bins(ctx context.Context) error {
	var entries []bincache.Entry
	start := time.Now()
	err := cli.WithTerminal(func(term *progress.Terminal) error {
		cache := &bincache.Cache{Progress: term}
		if _, err := cache.Ensure(ctx); err != nil {
			return err
		}
		var err error
		entries, err = cache.List(ctx)
		return err
	})
	if err != nil {
		return err
	}
	built := 0
	for _, e := range entries {
		if e.BuiltAt.After(start) {
			built++
		}
	}
	if built == 0 {
		fmt.Fprintf(os.Stderr, "Nothing built: all %d binaries were already cached.\n", len(entries))
	} else {
		fmt.Fprintf(os.Stderr, "Built %d of %d binaries.\n", built, len(entries))
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NAME\tVERSION\tSIZE\tBUILT IN\tPATH")
	for _, e := range entries {
		fmt.Fprintf(w, "%s\t%s\t%d MiB\t%s\t%s\n", e.Tool.Name, e.Tool.Version, e.Size>>20, progress.Round(e.BuildTime), e.Path)
	}
	return w.Flush()
}

// goCmd runs the go command with its output on the terminal.
func goCmd(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return nil
}

// goQuiet runs the go command in dir and returns its output only when it fails.
func goQuiet(ctx context.Context, dir string, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go %s (in %s): %w\n%s", strings.Join(args, " "), orDot(dir), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func orDot(dir string) string {
	if dir == "" {
		return "."
	}
	return dir
}
