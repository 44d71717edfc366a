package packageloop

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"golang.org/x/mod/modfile"

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/images"
	"github.com/cozylab/cozylab/lab/registry"
)

// The build and the push of one image: go build in the chart's module, the image, its content
// tag, and where in the registry it goes.

// ErrNoGoModule is the error of Image for a chart directory outside any Go module.
var ErrNoGoModule = errors.New("not inside a Go module")

// goModule is the Go module enclosing a chart directory: where its images are built, and the
// import path that gives their packages. Its zero value is "outside any module".
type goModule struct {
	// Dir is the module's root directory; Path its module path ("" when go.mod names none).
	Dir, Path string
}

// findModule returns the Go module enclosing dir, or the zero goModule outside any. The go
// command is asked (go env GOMOD: GOMOD is os.DevNull, or empty with modules off, outside a
// module), as the go command that builds the images finds it; where there is none, go.mod is
// looked for in dir and its parents, so that prebuilt images are found on a machine without Go.
func findModule(ctx context.Context, dir string) (goModule, error) {
	gomod, err := goModFile(ctx, dir)
	if err != nil || gomod == "" || gomod == os.DevNull {
		return goModule{}, err
	}
	raw, err := os.ReadFile(gomod)
	if err != nil {
		return goModule{}, fmt.Errorf("read the Go module of %s: %w", dir, err)
	}
	return goModule{Dir: filepath.Dir(gomod), Path: modfile.ModulePath(raw)}, nil
}

// checkBuildable fails when the chart directory is outside any Go module (mod is zero) and
// one of its images has no prebuilt binary to take the place of a go build.
func checkBuildable(mod goModule, chartDir string, names []string) error {
	if mod.Dir != "" {
		return nil
	}
	for _, n := range names {
		prog, ok := mod.program(filepath.Join(chartDir, ImagesDir, n))
		if _, found := prebuilt.Path(prog.Name); !ok || !found {
			return fmt.Errorf("chart directory %s is %w: its images are built with go build in the enclosing module; add a go.mod to the chart or a parent directory (go mod init)", chartDir, ErrNoGoModule)
		}
	}
	return nil
}

// program returns the prebuilt program whose main package is in dir: by import path inside a
// module; outside any (a copy of this repository's tree, as in the sandbox image) by the
// package's path under this repository's root ("…/packages/system/echo/images/echo").
func (m goModule) program(dir string) (prebuilt.Program, bool) {
	if m.Dir != "" {
		return prebuilt.ByPackage(m.importPath(dir))
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return prebuilt.Program{}, false
	}
	for _, p := range prebuilt.Programs {
		if rel := p.Dir(); rel != "." && strings.HasSuffix(filepath.ToSlash(abs), "/"+rel) {
			return p, true
		}
	}
	return prebuilt.Program{}, false
}

// goModFile is the go.mod the go command uses in dir ("" or os.DevNull outside any module).
func goModFile(ctx context.Context, dir string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	if cmd.Err != nil {
		return searchGoMod(dir)
	}
	cmd.Dir = dir
	out, err := command.Run(cmd)
	if err != nil {
		return "", fmt.Errorf("find the Go module of %s: %w", dir, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n") // the last line: a toolchain download may log first
	return strings.TrimSpace(lines[len(lines)-1]), nil
}

// searchGoMod finds go.mod in dir or the nearest parent that has one, as the go command does
// by default; "" when none has.
func searchGoMod(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("find the Go module of %s: %w", dir, err)
	}
	for d := abs; ; d = filepath.Dir(d) {
		if fi, err := os.Stat(filepath.Join(d, "go.mod")); err == nil && !fi.IsDir() {
			return filepath.Join(d, "go.mod"), nil
		}
		if filepath.Dir(d) == d {
			return "", nil
		}
	}
}

// importPath is the import path of the package in dir, inside m; "" when m has no module path
// or dir is outside it.
func (m goModule) importPath(dir string) string {
	if m.Path == "" {
		return ""
	}
	rel, ok := relInside(m.Dir, dir)
	if !ok {
		// The go command reports the module's real path; the chart may be reached by a link.
		root, err1 := filepath.EvalSymlinks(m.Dir)
		real, err2 := filepath.EvalSymlinks(dir)
		if err1 != nil || err2 != nil {
			return ""
		}
		if rel, ok = relInside(root, real); !ok {
			return ""
		}
	}
	if rel == "." {
		return m.Path
	}
	return m.Path + "/" + filepath.ToSlash(rel)
}

func relInside(root, dir string) (string, bool) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", false
	}
	rel, err := filepath.Rel(root, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return "", false
	}
	return rel, true
}

// buildImage builds, tags and pushes the image of images/<n>, whose values.yaml repository is
// repo, using bin for the binary.
func buildImage(ctx context.Context, opts ImageOptions, mod goModule, bin, n, repo string, step progress.Step) (BuiltImage, error) {
	out, err := imageBinary(ctx, opts, mod, bin, n, step)
	if err != nil {
		return BuiltImage{}, err
	}
	img, err := registry.BinaryImage(out, registry.ImageOptions{Path: "/" + n, User: ImageUser, Arch: runtime.GOARCH})
	if err != nil {
		return BuiltImage{}, fmt.Errorf("build image %s: %w", n, err)
	}
	digest, err := img.Digest()
	if err != nil {
		return BuiltImage{}, fmt.Errorf("build image %s: compute digest: %w", n, err)
	}
	b := BuiltImage{Name: n, Tag: contentTag(digest.String()), Digest: digest.String()}
	if b.Repository, b.Ref, err = pushTarget(opts.Registry, repo, b.Tag); err != nil {
		return BuiltImage{}, err
	}
	tag, err := name.NewTag(b.Ref, name.Insecure, name.StrictValidation)
	if err != nil {
		return BuiltImage{}, fmt.Errorf("image %s: parse %s: %w", n, b.Ref, err)
	}
	held, err := registry.Holds(ctx, tag, digest)
	if err != nil {
		return BuiltImage{}, fmt.Errorf("look up %s (is the registry at %s running? go run mage.go lab:up): %w", b.Ref, opts.Registry, err)
	}
	if held {
		return b, nil
	}
	step.Status("pushing %s", b.Ref)
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return BuiltImage{}, fmt.Errorf("push %s (is the registry at %s running? go run mage.go lab:up): %w", b.Ref, opts.Registry, err)
	}
	b.Pushed = true
	return b, nil
}

// imageBinary returns the binary of images/<n>: the prebuilt one when its package is one of
// prebuilt.Programs and COZYLAB_PREBUILT holds it, else built with go build into bin.
func imageBinary(ctx context.Context, opts ImageOptions, mod goModule, bin, n string, step progress.Step) (string, error) {
	pkg := "./" + ImagesDir + "/" + n
	name := n
	if prog, ok := mod.program(filepath.Join(opts.ChartDir, ImagesDir, n)); ok {
		name = prog.Name
		if path, ok := prebuilt.Path(prog.Name); ok {
			step.Status("prebuilt %s", path)
			return path, nil
		}
	}
	out := filepath.Join(bin, n)
	step.Status("go build %s", pkg)
	cmd, err := prebuilt.GoCommand(ctx, name, images.GoBuildArgs(out, pkg)...)
	if err != nil {
		return "", fmt.Errorf("build image %s: %w", n, err)
	}
	cmd.Dir, cmd.Env = opts.ChartDir, prebuilt.StaticEnv("")
	if _, err := command.Run(cmd); err != nil {
		return "", fmt.Errorf("build image %s: %w", n, err)
	}
	return out, nil
}

// contentTag is the tag of an image named by its manifest digest: "sha-" and the first 12 hex
// digits ("sha256:0123456789abcdef…" → "sha-0123456789ab").
func contentTag(digest string) string {
	hex := strings.TrimPrefix(digest, "sha256:")
	return "sha-" + hex[:min(12, len(hex))]
}

// pushTarget returns the repository values.yaml should name for repo and the reference tag is
// pushed to in the registry reg (see Image).
func pushTarget(reg, repo, tag string) (valuesRepo, ref string, err error) {
	r, err := name.NewRepository(repo, name.WeakValidation, name.Insecure)
	if err != nil {
		return "", "", fmt.Errorf("image repository %q: want <registry>/<path> without a tag, such as ghcr.io/cozylab/echo: %w", repo, err)
	}
	if slices.Contains(images.Hosts(), r.RegistryStr()) {
		ref, err := registry.MirrorRef(reg, repo+":"+tag)
		return repo, ref, err
	}
	valuesRepo = reg + "/" + r.RepositoryStr()
	return valuesRepo, valuesRepo + ":" + tag, nil
}
