package images

import (
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

// Options configure Build.
type Options struct {
	// Registry is the lab registry's host:port to push to (plain HTTP).
	Registry string
	// RepoRoot is the cozylab checkout the in-repo images are built from (its go.mod's folder).
	RepoRoot string
	// Names selects images by name; every image of the catalog when empty.
	Names []string
	// Cache builds the cached tools; a bincache.Cache reporting to Progress when nil.
	Cache *bincache.Cache
	// BinDir keeps the binaries built from the repository, so that go build finds them up to date
	// on the next run; <user cache dir>/cozylab/images when empty.
	BinDir string
	// Progress receives a step per image (and the binaries cache's steps); progress.Discard when nil.
	Progress progress.Reporter
	// Uncompressed pushes plain-tar layers (registry.ImageOptions.Uncompressed): for nodes
	// that unpack under emulation.
	Uncompressed bool
}

// Built is an image in the registry.
type Built struct {
	Image Image
	// Ref is where it was pushed, "<Registry>/<upstream host>/<path>:<tag>".
	Ref string
	// Digest is its manifest digest, "sha256:<hex>".
	Digest string
	// Pushed is false when the registry already held this digest under Ref.
	Pushed bool
}

// Build builds the binaries of the selected images — the cached tools first, then the in-repo
// mains — and pushes each image its binary makes to opts.Registry, unless the registry already
// holds it. It returns the images in catalog order; after a failure, those done before it.
func Build(ctx context.Context, opts Options) ([]Built, error) {
	rep := opts.Progress
	if rep == nil {
		rep = progress.Discard
	}
	if opts.Registry == "" {
		return nil, errors.New("build images: no registry address: set Options.Registry to the lab registry's host:port")
	}
	imgs, err := selected(opts.Names)
	if err != nil {
		return nil, err
	}
	binaries, err := cachedTools(ctx, opts, rep, imgs)
	if err != nil {
		return nil, err
	}
	var out []Built
	for _, img := range imgs {
		step := rep.Begin("image " + img.Upstream)
		b, err := buildOne(ctx, opts, img, binaries[img.Tool], step)
		if err != nil {
			return out, step.Done(err)
		}
		if b.Pushed {
			step.Done(nil)
		} else {
			step.Skip("cached")
		}
		out = append(out, b)
	}
	return out, nil
}

// selected returns the catalog's images named (all when none), in catalog order.
func selected(names []string) ([]Image, error) {
	if len(names) == 0 {
		return Catalog(), nil
	}
	want := map[string]bool{}
	for _, n := range names {
		if _, err := Lookup(n); err != nil {
			return nil, err
		}
		want[n] = true
	}
	var out []Image
	for _, img := range catalog {
		if want[img.Name] {
			out = append(out, img)
		}
	}
	return out, nil
}

// cachedTools ensures the binaries-cache tools of imgs and returns their paths by tool name.
func cachedTools(ctx context.Context, opts Options, rep progress.Reporter, imgs []Image) (map[string]string, error) {
	var tools []string
	for _, img := range imgs {
		if img.Tool != "" {
			tools = append(tools, img.Tool)
		}
	}
	if len(tools) == 0 {
		return nil, nil
	}
	cache := opts.Cache
	if cache == nil {
		cache = &bincache.Cache{Progress: rep}
	}
	paths, err := cache.Ensure(ctx, tools...)
	if err != nil {
		return nil, fmt.Errorf("build the binaries of images %v: %w", tools, err)
	}
	return paths, nil
}

// buildOne builds img's binary if it is an in-repo main (cached is the tool's binary otherwise),
// checks it can run on an empty base, and pushes the image unless the registry holds it.
func buildOne(ctx context.Context, opts Options, img Image, cached string, step progress.Step) (Built, error) {
	bin := cached
	if img.Package != "" {
		var err error
		if bin, err = goBuild(ctx, opts, img, step); err != nil {
			return Built{}, err
		}
	}
	if err := checkStatic(bin); err != nil {
		return Built{}, fmt.Errorf("image %s: %w", img.Name, err)
	}
	ref, err := img.PushRef(opts.Registry)
	if err != nil {
		return Built{}, err
	}
	step.Status("assembling the image")
	image, err := registry.BinaryImage(bin, registry.ImageOptions{Path: img.Path, User: img.User, Arch: runtime.GOARCH, Uncompressed: opts.Uncompressed})
	if err != nil {
		return Built{}, fmt.Errorf("image %s: %w", img.Name, err)
	}
	digest, err := image.Digest()
	if err != nil {
		return Built{}, fmt.Errorf("image %s: compute digest: %w", img.Name, err)
	}
	b := Built{Image: img, Ref: ref, Digest: digest.String()}
	tag, err := name.NewTag(ref, name.Insecure, name.StrictValidation)
	if err != nil {
		return Built{}, fmt.Errorf("image %s: parse %s: %w", img.Name, ref, err)
	}
	held, err := registry.Holds(ctx, tag, digest)
	if err != nil {
		return Built{}, fmt.Errorf("image %s: look up %s (is the lab registry at %s running?): %w", img.Name, ref, opts.Registry, err)
	}
	if held {
		return b, nil
	}
	step.Status("pushing to %s", opts.Registry)
	if err := remote.Write(tag, image, remote.WithContext(ctx)); err != nil {
		return Built{}, fmt.Errorf("image %s: push %s (is the lab registry at %s running?): %w", img.Name, ref, opts.Registry, err)
	}
	b.Pushed = true
	return b, nil
}

// goBuild returns the binary of img's main package: the prebuilt one when there is one
// (prebuilt.Path), else built from opts.RepoRoot into opts.BinDir as a static binary for this
// machine's architecture. The output path is stable, so go build relinks only when an input
// changed.
func goBuild(ctx context.Context, opts Options, img Image, step progress.Step) (string, error) {
	if path, ok := prebuilt.Path(img.Name); ok {
		step.Status("prebuilt %s", path)
		return path, nil
	}
	step.Status("go build %s", img.Package)
	if opts.RepoRoot == "" {
		return "", fmt.Errorf("image %s: build %s: no repository root: set Options.RepoRoot to the cozylab checkout", img.Name, img.Package)
	}
	dir := opts.BinDir
	if dir == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			return "", fmt.Errorf("image %s: find the user cache directory (set XDG_CACHE_HOME or HOME, or Options.BinDir): %w", img.Name, err)
		}
		dir = filepath.Join(cache, "cozylab", "images")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("image %s: create binary directory %s: %w", img.Name, dir, err)
	}
	out := filepath.Join(dir, img.Name)
	cmd, err := prebuilt.GoCommand(ctx, img.Name, GoBuildArgs(out, img.Package)...)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.Name, err)
	}
	cmd.Dir, cmd.Env = opts.RepoRoot, prebuilt.StaticEnv("")
	if _, err := command.Run(cmd); err != nil {
		return "", fmt.Errorf("image %s: build %s: %w", img.Name, img.Package, err)
	}
	return out, nil
}

// GoBuildArgs is the argv after "go" that builds an in-repo image's binary pkg at out: static
// when run with CGO_ENABLED=0, without local paths or the commit (the same source gives the same
// image at any commit), stripped. It is prebuilt.ImageArgs, so a prebuilt image binary is the
// one built here.
func GoBuildArgs(out, pkg string) []string { return prebuilt.ImageArgs(out, pkg) }

// checkStatic fails when the ELF binary at path needs a program interpreter or shared
// libraries: an image with nothing but the binary could not start it.
func checkStatic(path string) (err error) {
	f, err := elf.Open(path)
	if err != nil {
		return fmt.Errorf("read binary %s: %w", path, err)
	}
	defer func() { err = errors.Join(err, f.Close()) }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			return fmt.Errorf("binary %s is dynamically linked (it needs a program interpreter), so it cannot run in an image without libc: build it with CGO_ENABLED=0", path)
		}
	}
	libs, err := f.ImportedLibraries()
	if err != nil {
		return fmt.Errorf("read the dynamic section of %s: %w", path, err)
	}
	if len(libs) > 0 {
		return fmt.Errorf("binary %s needs shared libraries %v, so it cannot run in an image without them: build it with CGO_ENABLED=0", path, libs)
	}
	return nil
}
