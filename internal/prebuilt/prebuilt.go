package prebuilt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/progress"
)

// Env names the directory of prebuilt executables (the sandbox image sets it).
const Env = "COZYLAB_PREBUILT"

// ErrNoGo is wrapped by the error of a build that needs the go command where there is none.
var ErrNoGo = errors.New("no go command")

// Path returns $COZYLAB_PREBUILT/<name> when Env is set and that file is an executable regular
// file. A relative Env is taken from the working directory.
func Path(name string) (string, bool) {
	dir := os.Getenv(Env)
	if dir == "" || name == "" || filepath.Base(name) != name {
		return "", false
	}
	path, err := filepath.Abs(filepath.Join(dir, name))
	if err != nil {
		return "", false
	}
	fi, err := os.Stat(path)
	if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", false
	}
	return path, true
}

// Install puts the prebuilt program name (Path) at out, where a run-time builder would have
// written it, and reports whether there was one. out becomes a hard link to it, or a copy where
// no link can be made (another file system); either replaces out in one rename, so a later
// `go build -o out` never writes through the link into the prebuilt directory.
func Install(name, out string) (bool, error) {
	src, ok := Path(name)
	if !ok {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return true, fmt.Errorf("install prebuilt %s: create directory: %w", name, err)
	}
	srcInfo, err := os.Stat(src)
	if err != nil {
		return true, fmt.Errorf("install prebuilt %s: %w", name, err)
	}
	if outInfo, err := os.Stat(out); err == nil && os.SameFile(srcInfo, outInfo) {
		return true, nil // renaming a link over itself would leave the temporary name behind
	}
	tmp := fmt.Sprintf("%s.prebuilt-%d", out, os.Getpid())
	if err := removeIfExists(tmp); err != nil {
		return true, fmt.Errorf("install prebuilt %s: %w", name, err)
	}
	if err := os.Link(src, tmp); err != nil {
		if err := copyFile(src, tmp); err != nil {
			return true, fmt.Errorf("install prebuilt %s at %s: %w", name, out, errors.Join(err, removeIfExists(tmp)))
		}
	}
	if err := os.Rename(tmp, out); err != nil {
		return true, fmt.Errorf("install prebuilt %s at %s: %w", name, out, errors.Join(err, removeIfExists(tmp)))
	}
	return true, nil
}

// GoCommand is `go args...` run with ctx, for building the program name. Where there is no go
// command it returns an error wrapping ErrNoGo that names both fixes: install Go, or set Env to
// a directory holding name.
func GoCommand(ctx context.Context, name string, args ...string) (*exec.Cmd, error) {
	cmd := exec.CommandContext(ctx, "go", args...)
	if cmd.Err != nil {
		return nil, NoGo(name, cmd.Err)
	}
	return cmd, nil
}

// NoGo is the error of a build of the program (or tool) name that found no go command (cause):
// it says what to install, or which directory to point Env at instead.
func NoGo(name string, cause error) error {
	return fmt.Errorf("%w to build %s (%w): install Go 1.26 and put it on PATH, or set %s to a directory holding a prebuilt %s",
		ErrNoGo, name, cause, Env, name)
}

// Command is the `go build` of p from the module at repoRoot into out, as every builder of p
// runs it: p.Args in repoRoot with p.Environ.
func (p Program) Command(ctx context.Context, repoRoot, out string) (*exec.Cmd, error) {
	cmd, err := GoCommand(ctx, p.Name, p.Args(out)...)
	if err != nil {
		return nil, err
	}
	cmd.Dir, cmd.Env = repoRoot, p.Environ()
	return cmd, nil
}

// Build builds the named programs (all when none named) from the module at repoRoot into
// dir/<name>, each exactly as its run-time builder would (same flags, so the image digests
// match), static (CGO_ENABLED=0, linux, this arch), one at a time, reporting progress per
// program. A program is written under a temporary name and renamed into place once built, so a
// failed build leaves what was there. It returns the path of each program built; after a
// failure, those built before it.
func Build(ctx context.Context, repoRoot, dir string, rep progress.Reporter, names ...string) (map[string]string, error) {
	if rep == nil {
		rep = progress.Discard
	}
	progs, err := selected(names)
	if err != nil {
		return nil, err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("resolve prebuilt directory %s: %w", dir, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("create prebuilt directory %s: %w", abs, err)
	}
	out := map[string]string{}
	for _, p := range progs {
		step := rep.Begin(fmt.Sprintf("Building %s (%s)", p.Name, p.Package))
		path := filepath.Join(abs, p.Name)
		if err := step.Done(buildOne(ctx, p, repoRoot, path)); err != nil {
			return out, err
		}
		out[p.Name] = path
	}
	return out, nil
}

func buildOne(ctx context.Context, p Program, repoRoot, path string) (err error) {
	tmp := filepath.Join(filepath.Dir(path), "."+p.Name+".tmp")
	defer func() {
		if err != nil {
			err = errors.Join(err, removeIfExists(tmp))
		}
	}()
	cmd, err := p.Command(ctx, repoRoot, tmp)
	if err != nil {
		return err
	}
	if _, err := command.Run(cmd); err != nil {
		return fmt.Errorf("build %s: %w", p.Name, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("build %s: move into place: %w", p.Name, err)
	}
	return nil
}

func copyFile(src, dst string) (err error) {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer func() { err = errors.Join(err, in.Close()) }()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o755)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, in)
	return errors.Join(err, out.Close())
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove %s: %w", path, err)
	}
	return nil
}
