package bincache

import (
	"context"
	"crypto/sha256"
	"debug/buildinfo"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
)

// Cache builds tools into a directory tree keyed by name and version.
type Cache struct {
	// Root holds <name>/<version>/<name>; DefaultRoot when empty.
	Root string
	// ToolsDir holds the tools modules (<ToolsDir>/<Tool.Dir>/go.mod); the tools/ folder next to
	// this package's source when empty.
	ToolsDir string
	// Tools is the table to build from; the package's Tools when nil.
	Tools []Tool
	// Go is the go command; "go" from PATH when empty.
	Go string
	// Progress receives one step per tool; progress.Discard when nil.
	Progress progress.Reporter

	goVersionOnce sync.Once
	goVersion     string
	goVersionErr  error
}

// Entry describes one cached tool.
type Entry struct {
	Tool      Tool
	Path      string
	Size      int64
	BuiltAt   time.Time
	BuildTime time.Duration
}

// stamp is written next to a binary once it has been built and checked.
type stamp struct {
	Recipe    string        `json:"recipe"`
	BuiltAt   time.Time     `json:"builtAt"`
	BuildTime time.Duration `json:"buildTime"`
	Version   string        `json:"version"`
}

// DefaultRoot is $XDG_CACHE_HOME/cozylab/bin, or ~/.cache/cozylab/bin.
func DefaultRoot() (string, error) {
	dir, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory (set XDG_CACHE_HOME or HOME): %w", err)
	}
	return filepath.Join(dir, "cozylab", "bin"), nil
}

func (c *Cache) root() (string, error) {
	if c.Root != "" {
		return c.Root, nil
	}
	return DefaultRoot()
}

func (c *Cache) table() []Tool {
	if c.Tools != nil {
		return c.Tools
	}
	return Tools
}

func (c *Cache) reporter() progress.Reporter {
	if c.Progress != nil {
		return c.Progress
	}
	return progress.Discard
}

func (c *Cache) toolsDir() (string, error) {
	dir := c.ToolsDir
	if dir == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return "", errors.New("locate the tools modules: no caller information; set Cache.ToolsDir")
		}
		dir = filepath.Join(filepath.Dir(file), "tools")
	}
	if _, err := os.Stat(dir); err != nil {
		return "", fmt.Errorf("locate the tools modules at %s (run from a cozylab checkout): %w", dir, err)
	}
	return dir, nil
}

func (c *Cache) goCmd() string {
	if c.Go != "" {
		return c.Go
	}
	return "go"
}

// lookup finds name in the cache's table.
func (c *Cache) lookup(name string) (Tool, error) {
	var names []string
	for _, t := range c.table() {
		if t.Name == name {
			return t, nil
		}
		names = append(names, t.Name)
	}
	return Tool{}, fmt.Errorf("unknown tool %q: the binaries cache knows %s", name, strings.Join(names, ", "))
}

// Path is where the cache keeps tool t (whether or not it is built yet).
func (c *Cache) Path(t Tool) (string, error) {
	root, err := c.root()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, t.Name, t.Version, t.Name), nil
}

// Ensure makes sure each named tool (every tool in the table when none is named) is built,
// checked and cached, building what is missing one at a time. It returns each tool's path. A
// prebuilt tool ($COZYLAB_PREBUILT/<name>, internal/prebuilt) whose build information names its
// pinned version is used in place, without the go command or the tools modules.
func (c *Cache) Ensure(ctx context.Context, names ...string) (map[string]string, error) {
	tools := c.table()
	if len(names) > 0 {
		tools = nil
		for _, n := range names {
			t, err := c.lookup(n)
			if err != nil {
				return nil, err
			}
			tools = append(tools, t)
		}
	}
	paths := map[string]string{}
	for _, t := range tools {
		p, err := c.ensure(ctx, t)
		if err != nil {
			return nil, err
		}
		paths[t.Name] = p
	}
	return paths, nil
}

// List returns the cached entry of every tool in the table that is built and current.
func (c *Cache) List(ctx context.Context) ([]Entry, error) {
	var out []Entry
	for _, t := range c.table() {
		path, err := c.Path(t)
		if err != nil {
			return nil, err
		}
		st, ok, err := c.current(ctx, t, path)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("stat %s: %w", path, err)
		}
		out = append(out, Entry{Tool: t, Path: path, Size: fi.Size(), BuiltAt: st.BuiltAt, BuildTime: st.BuildTime})
	}
	return out, nil
}

func (c *Cache) ensure(ctx context.Context, t Tool) (path string, err error) {
	step := c.reporter().Begin(t.Name + " " + t.Version)
	defer func() {
		if err != nil {
			err = step.Done(err)
		}
	}()
	if p, ok := prebuiltTool(ctx, t, step); ok {
		step.Skip("prebuilt")
		return p, nil
	}
	if path, err = c.Path(t); err != nil {
		return "", err
	}
	if _, ok, err := c.current(ctx, t, path); err != nil {
		return "", err
	} else if ok {
		step.Skip("cached")
		return path, nil
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("create cache directory %s: %w", dir, err)
	}
	lock, err := lockFile(ctx, filepath.Join(dir, ".lock"), func() {
		step.Status("waiting for another process building it")
	})
	if err != nil {
		return "", err
	}
	defer func() { err = errors.Join(err, lock.unlock()) }()
	// Whoever held the lock may have built it meanwhile.
	if _, ok, err := c.current(ctx, t, path); err != nil {
		return "", err
	} else if ok {
		step.Skip("cached, built by another process")
		return path, nil
	}
	root, err := c.root()
	if err != nil {
		return "", err
	}
	// One build at a time across processes: a Kubernetes link takes about 2 GB.
	build, err := lockFile(ctx, filepath.Join(root, ".build.lock"), func() {
		step.Status("waiting for another build to finish")
	})
	if err != nil {
		return "", err
	}
	defer func() { err = errors.Join(err, build.unlock()) }()
	if err := c.build(ctx, t, path, step); err != nil {
		return "", err
	}
	step.Done(nil)
	return path, nil
}

// prebuiltTool returns the prebuilt t when there is one and it is t at its pinned version
// (checkVersion: no go command needed).
func prebuiltTool(ctx context.Context, t Tool, step progress.Step) (string, bool) {
	path, ok := prebuilt.Path(t.Name)
	if !ok {
		return "", false
	}
	if _, err := checkVersion(ctx, t, path); err != nil {
		step.Status("not using prebuilt %s: %v", path, err)
		return "", false
	}
	return path, true
}

// current reports whether path holds a binary built from t's present recipe that still reports
// its pinned version.
func (c *Cache) current(ctx context.Context, t Tool, path string) (stamp, bool, error) {
	recipe, err := c.recipe(t)
	if err != nil {
		return stamp{}, false, err
	}
	raw, err := os.ReadFile(path + ".stamp")
	if errors.Is(err, os.ErrNotExist) {
		return stamp{}, false, nil
	} else if err != nil {
		return stamp{}, false, fmt.Errorf("read stamp of %s: %w", t.Name, err)
	}
	var st stamp
	if json.Unmarshal(raw, &st) != nil || st.Recipe != recipe {
		return stamp{}, false, nil
	}
	if _, err := checkVersion(ctx, t, path); err != nil {
		return stamp{}, false, nil
	}
	return st, true, nil
}

// recipe is a digest of everything that decides what a build of t produces.
func (c *Cache) recipe(t Tool) (string, error) {
	dir, err := c.toolsDir()
	if err != nil {
		return "", err
	}
	goVersion, err := c.goVersionOf()
	if errors.Is(err, exec.ErrNotFound) {
		return "", prebuilt.NoGo(t.Name, err)
	}
	if err != nil {
		return "", err
	}
	h := sha256.New()
	spec, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("encode recipe of %s: %w", t.Name, err)
	}
	h.Write(spec)
	h.Write([]byte(goVersion))
	for _, f := range []string{"go.mod", "go.sum"} {
		b, err := os.ReadFile(filepath.Join(dir, t.Dir, f))
		if f == "go.sum" && errors.Is(err, os.ErrNotExist) {
			continue // a module without dependencies has none
		}
		if err != nil {
			return "", fmt.Errorf("read tools module of %s: %w", t.Name, err)
		}
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func (c *Cache) goVersionOf() (string, error) {
	c.goVersionOnce.Do(func() {
		path, err := exec.LookPath(c.goCmd())
		if err != nil {
			c.goVersionErr = err // recipe names the tool and both fixes
			return
		}
		out, err := command.Run(exec.Command(path, "env", "GOVERSION"))
		if err != nil {
			c.goVersionErr = fmt.Errorf("ask go for its version: %w", err)
			return
		}
		c.goVersion = strings.TrimSpace(string(out))
	})
	return c.goVersion, c.goVersionErr
}

// checkVersion checks that the binary at path is t at its pinned version: its build information
// must name t.Module at t.Version, and, when the tool has a VersionWant, running it with
// VersionArgs must print that. It returns what the binary printed.
func checkVersion(ctx context.Context, t Tool, path string) (string, error) {
	info, err := buildinfo.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("check version of %s: read build information of %s: %w", t.Name, path, err)
	}
	if got := moduleVersion(info, t.Module); got != t.Version && info.Main.Path != t.Module {
		return "", fmt.Errorf("check version of %s: %s was built from %s %q, want %s", t.Name, path, t.Module, got, t.Version)
	}
	if t.VersionWant == "" {
		return info.GoVersion + " " + t.Module + "@" + t.Version, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	out, err := command.Run(exec.CommandContext(ctx, path, t.VersionArgs...))
	if err != nil {
		return "", fmt.Errorf("check version of %s: %w", t.Name, err)
	}
	got := strings.TrimSpace(string(out))
	if !strings.Contains(got, t.VersionWant) {
		return got, fmt.Errorf("check version of %s: %s %s printed %q, want it to contain %q",
			t.Name, path, strings.Join(t.VersionArgs, " "), command.Tail(got, 3), t.VersionWant)
	}
	return got, nil
}

// moduleVersion is the version of module in the build, or "" when the binary does not use it.
func moduleVersion(info *buildinfo.BuildInfo, module string) string {
	if info.Main.Path == module {
		return info.Main.Version
	}
	for _, d := range info.Deps {
		if d.Path == module {
			if d.Replace != nil {
				return d.Replace.Version
			}
			return d.Version
		}
	}
	return ""
}
