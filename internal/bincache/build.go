package bincache

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
)

// importPathLine matches the package names `go build -v` prints; anything else it prints is a
// diagnostic worth keeping for the error.
var importPathLine = regexp.MustCompile(`^[A-Za-z0-9_.~/+-]+$`)

// build compiles t into a temporary file next to path, checks its version and renames it into
// place, then writes the stamp. On any failure nothing is left but what was there before.
func (c *Cache) build(ctx context.Context, t Tool, path string, step progress.Step) (err error) {
	start := time.Now()
	toolsDir, err := c.toolsDir()
	if err != nil {
		return err
	}
	recipe, err := c.recipe(t)
	if err != nil {
		return err
	}
	if t.CGO {
		if err := haveCCompiler(); err != nil {
			return fmt.Errorf("build %s %s: %w", t.Name, t.Version, err)
		}
	}
	goPath, err := exec.LookPath(c.goCmd())
	if err != nil {
		return prebuilt.NoGo(t.Name, err)
	}
	dir := filepath.Dir(path)
	removeStaleTemps(dir, t.Name)
	tmp := filepath.Join(dir, fmt.Sprintf(".%s.tmp-%d", t.Name, os.Getpid()))
	defer func() {
		if err != nil {
			err = errors.Join(err, removeIfExists(tmp))
		}
	}()

	modDir := filepath.Join(toolsDir, t.Dir)
	env := append(os.Environ(), "GOFLAGS=-mod=readonly", "GOWORK=off", "GOTOOLCHAIN=local", "CGO_ENABLED="+boolDigit(t.CGO))

	step.Status("downloading modules")
	dl := exec.CommandContext(ctx, goPath, "mod", "download")
	dl.Dir, dl.Env = modDir, env
	if _, err := command.Run(dl); err != nil {
		return fmt.Errorf("build %s %s: download modules: %w", t.Name, t.Version, err)
	}

	args := []string{"build", "-v", "-trimpath", "-buildvcs=false", "-o", tmp}
	if len(t.Tags) > 0 {
		args = append(args, "-tags", strings.Join(t.Tags, ","))
	}
	ld := strings.ReplaceAll(strings.Join(t.LDFlags, " "), "$BUILD_DATE", time.Now().UTC().Format(time.RFC3339))
	args = append(args, "-ldflags", ld, t.Package)
	cmd := exec.CommandContext(ctx, goPath, args...)
	cmd.Dir, cmd.Env = modDir, env
	diag, err := runCounting(cmd, func(n int) { step.Status("compiling, %d packages built", n) })
	if err != nil {
		return fmt.Errorf("build %s %s: %w", t.Name, t.Version, command.Wrap(cmd, diag, err))
	}

	step.Status("checking its version")
	version, err := checkVersion(ctx, t, tmp)
	if err != nil {
		return fmt.Errorf("build %s %s: %w", t.Name, t.Version, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("build %s %s: move into cache: %w", t.Name, t.Version, err)
	}
	st, err := json.MarshalIndent(stamp{Recipe: recipe, BuiltAt: time.Now().UTC(), BuildTime: time.Since(start), Version: version}, "", "  ")
	if err != nil {
		return fmt.Errorf("build %s %s: encode stamp: %w", t.Name, t.Version, err)
	}
	if err := writeFileAtomic(path+".stamp", st, 0o644); err != nil {
		return fmt.Errorf("build %s %s: %w", t.Name, t.Version, err)
	}
	return nil
}

// runCounting runs cmd, calling onPackage with the number of packages `go build -v` has named so
// far, and returns the rest of its output (the diagnostics).
func runCounting(cmd *exec.Cmd, onPackage func(n int)) ([]byte, error) {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	var diag strings.Builder
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n := 0
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		for sc.Scan() {
			line := sc.Text()
			if importPathLine.MatchString(line) {
				n++
				onPackage(n)
				continue
			}
			diag.WriteString(line + "\n")
		}
		_, _ = io.Copy(io.Discard, pr) // drain after a too-long line so the command never blocks
	}()
	err := cmd.Run()
	pw.Close()
	wg.Wait()
	return []byte(diag.String()), err
}

func haveCCompiler() error {
	cc := os.Getenv("CC")
	if cc == "" {
		cc = "gcc"
	}
	if _, err := exec.LookPath(strings.Fields(cc)[0]); err != nil {
		return fmt.Errorf("no C compiler %q found: install one with `apt-get install -y gcc` (or set CC)", cc)
	}
	return nil
}

// removeStaleTemps deletes temporary binaries a killed build left behind. The caller holds the
// tool's lock, so no live build owns them.
func removeStaleTemps(dir, name string) {
	matches, _ := filepath.Glob(filepath.Join(dir, "."+name+".tmp-*"))
	for _, m := range matches {
		_ = os.Remove(m) // best effort: a leftover only costs disk, and the next build retries
	}
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}

func writeFileAtomic(path string, data []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return errors.Join(fmt.Errorf("rename %s: %w", tmp, err), removeIfExists(tmp))
	}
	return nil
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
