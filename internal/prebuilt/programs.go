package prebuilt

import (
	"fmt"
	"os"
	"runtime"
	"slices"
	"strings"
)

// Program is an in-repo main package the lab or the e2e builds at run time.
type Program struct {
	// Name is the executable's file name, in a prebuilt directory and for GoCommand's errors.
	Name string
	// Package is the main package as its run-time builder names it to `go build`, run in the
	// module root: a "./" path or an import path.
	Package string
	// Flags come between "build" and "-o".
	Flags []string
	// Arch is the GOARCH it is built for; this machine's when empty.
	Arch string
	// Env is added to the build's environment after CGO_ENABLED=0, GOOS and GOARCH.
	Env []string
}

// Program names.
const (
	// CLI is the cozylab command: the mage targets' verbs for users without Go.
	CLI = "cozylab"
	// Daemon is the lab daemon (lab/daemon).
	Daemon = "cozylab-lab"
	// Operator is the cozystack operator, the binary of its image (lab/registry, lab/images).
	Operator = "cozystack-operator"
	// Pause and SourceWatcher are in-repo images of the real node (lab/images).
	Pause         = "pause"
	SourceWatcher = "source-watcher"
	// Echo is the image of the packages/system/echo chart (lab/packageloop, the e2e).
	Echo = "echo"
	// TwinAgent is the Talos twin's agent, the init of the twin guest (lab/qemu/twinimage).
	TwinAgent = "cozylab-twin"
)

// module is this repository's module path.
const module = "github.com/cozylab/cozylab"

// imageFlags build an image's binary: without local paths or the commit (the same source gives
// the same image at any commit), stripped.
var imageFlags = []string{"-trimpath", "-buildvcs=false", "-ldflags=-s -w"}

// Programs lists every program the lab or the e2e builds at run time, in the order Build builds
// them. The daemon and the CLI keep their source paths (no -trimpath): without a prebuilt tool
// they find the binaries cache's tools modules in the checkout they were built from.
var Programs = []Program{
	{Name: CLI, Package: "./cli/cmd/cozylab"},
	{Name: Daemon, Package: "./lab/cmd/cozylab-lab"},
	{Name: Operator, Package: module + "/operator/cmd/cozystack-operator", Flags: imageFlags},
	{Name: Pause, Package: module + "/lab/cmd/pause", Flags: imageFlags},
	{Name: SourceWatcher, Package: module + "/lab/cmd/source-watcher", Flags: imageFlags},
	{Name: Echo, Package: module + "/packages/system/echo/images/echo", Flags: imageFlags},
	{
		// The guest is x86_64 whatever the host (qemu-system-x86_64).
		Name: TwinAgent, Package: "./talos/twin/cmd/cozylab-twin", Flags: []string{"-trimpath", "-ldflags=-s -w"},
		Arch: "amd64", Env: []string{"GOFLAGS=-mod=readonly"},
	},
}

// Lookup returns the program called name.
func Lookup(name string) (Program, error) {
	for _, p := range Programs {
		if p.Name == name {
			return p, nil
		}
	}
	return Program{}, fmt.Errorf("unknown program %q: the lab builds %s", name, strings.Join(names(), ", "))
}

// ByPackage returns the program whose main package has the import path pkg.
func ByPackage(pkg string) (Program, bool) {
	for _, p := range Programs {
		if p.ImportPath() == pkg {
			return p, true
		}
	}
	return Program{}, false
}

// ImportPath is the main package's import path.
func (p Program) ImportPath() string {
	if rel, ok := strings.CutPrefix(p.Package, "./"); ok {
		return module + "/" + rel
	}
	return p.Package
}

// Dir is the main package's directory relative to the module root, slash-separated
// ("packages/system/echo/images/echo").
func (p Program) Dir() string {
	if p.ImportPath() == module {
		return "."
	}
	return strings.TrimPrefix(p.ImportPath(), module+"/")
}

// Args is the argv after "go" that builds p at out.
func (p Program) Args(out string) []string {
	args := append([]string{"build"}, p.Flags...)
	return append(args, "-o", out, p.Package)
}

// Environ is the environment p is built in: this process's, static (CGO_ENABLED=0), for linux
// and p's architecture, with p.Env.
func (p Program) Environ() []string {
	return append(StaticEnv(p.Arch), p.Env...)
}

// ImageArgs is the argv after "go" that builds the binary of an image, the main package pkg, at
// out (the in-repo images' and the charts' images' builds).
func ImageArgs(out, pkg string) []string {
	return Program{Package: pkg, Flags: imageFlags}.Args(out)
}

// StaticEnv is this process's environment for a static linux build for arch (this machine's
// when empty).
func StaticEnv(arch string) []string {
	if arch == "" {
		arch = runtime.GOARCH
	}
	return append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
}

func names() []string {
	out := make([]string, len(Programs))
	for i, p := range Programs {
		out[i] = p.Name
	}
	return out
}

// selected returns the programs named (all when none), in Programs order.
func selected(want []string) ([]Program, error) {
	if len(want) == 0 {
		return slices.Clone(Programs), nil
	}
	for _, n := range want {
		if _, err := Lookup(n); err != nil {
			return nil, err
		}
	}
	var out []Program
	for _, p := range Programs {
		if slices.Contains(want, p.Name) {
			out = append(out, p)
		}
	}
	return out, nil
}
