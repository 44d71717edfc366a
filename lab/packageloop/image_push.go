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

	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/images"
	"github.com/cozylab/cozylab/lab/registry"
)

// The build and the push of one image: go build in the chart's module, the image, its content
// tag, and where in the registry it goes.

// checkGoModule fails when dir is not inside a Go module, as the go command that builds the
// images finds modules (GOMOD is os.DevNull, or empty with modules off).
// ErrNoGoModule is the error of Image for a chart directory outside any Go module.
var ErrNoGoModule = errors.New("not inside a Go module")

func checkGoModule(ctx context.Context, dir string) error {
	cmd := exec.CommandContext(ctx, "go", "env", "GOMOD")
	cmd.Dir = dir
	out, err := command.Run(cmd)
	if err != nil {
		return fmt.Errorf("find the Go module of %s: %w", dir, err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n") // the last line: a toolchain download may log first
	if mod := strings.TrimSpace(lines[len(lines)-1]); mod == "" || mod == os.DevNull {
		return fmt.Errorf("chart directory %s is %w: its images are built with go build in the enclosing module; add a go.mod to the chart or a parent directory (go mod init)", dir, ErrNoGoModule)
	}
	return nil
}

// buildImage builds, tags and pushes the image of images/<n>, whose values.yaml repository is
// repo, using bin for the binary.
func buildImage(ctx context.Context, opts ImageOptions, bin, n, repo string, step progress.Step) (BuiltImage, error) {
	pkg := "./" + ImagesDir + "/" + n
	out := filepath.Join(bin, n)
	step.Status("go build %s", pkg)
	cmd := exec.CommandContext(ctx, "go", images.GoBuildArgs(out, pkg)...)
	cmd.Dir = opts.ChartDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if _, err := command.Run(cmd); err != nil {
		return BuiltImage{}, fmt.Errorf("build image %s: %w", n, err)
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
