package packageloop

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/build"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/cozylab/cozylab/internal/atomicfile"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

// ImagesDir is the folder of a chart directory that holds the sources of its images, one
// subdirectory per image, as in upstream Cozystack's packages.
const ImagesDir = "images"

// ImageUser is the user every chart image runs as: distroless "nonroot", numeric so the image
// needs no /etc/passwd, and the runAsUser the charts set.
const ImageUser = registry.NonRootUser

// ImageOptions configure Image.
type ImageOptions struct {
	// ChartDir is the chart directory: Chart.yaml, values.yaml and images/<name>/.
	ChartDir string
	// Registry is the host:port of the plain-HTTP registry to push to: the lab registry.
	Registry string
	// KeepValues leaves values.yaml as it is: the edited content is only returned (NewValues),
	// for a caller that pushes a copy of the tree (the e2e).
	KeepValues bool
}

// ImageResult is what Image did.
type ImageResult struct {
	// Images are the chart's images, in the order of their directory names.
	Images []BuiltImage
	// ValuesFile is the chart's values.yaml.
	ValuesFile string
	// Values are the values Image set in ValuesFile, in order ("image.tag" and so on).
	Values []SetValue
	// ValuesChanged is false when ValuesFile already held them; it was then not written.
	ValuesChanged bool
	// NewValues is values.yaml with the values set, written or not (KeepValues).
	NewValues []byte
}

// SetValue is one value Image set in values.yaml.
type SetValue struct {
	// Key is the dotted key path, such as image.digest.
	Key string
	// Value is the string written.
	Value string
}

// BuiltImage is one image of a chart, in the registry.
type BuiltImage struct {
	// Name is the image's directory under images/, and its binary's name (/<Name>).
	Name string
	// Repository, Tag and Digest are what values.yaml names: the repository the cluster pulls
	// ("ghcr.io/cozylab/echo"), the content tag ("sha-<first 12 hex of the digest>") and the
	// manifest digest ("sha256:<hex>").
	Repository, Tag, Digest string
	// Ref is where it was pushed: "<registry>/ghcr.io/cozylab/echo:<tag>" for a repository the
	// lab mirrors, "<registry>/<path>:<tag>" otherwise.
	Ref string
	// Pushed is false when the registry already held this digest under Ref.
	Pushed bool
}

// Image builds every image of the chart in opts.ChartDir, pushes it to opts.Registry, and
// writes its reference into the chart's values.yaml, the way upstream Cozystack's `make image`
// does with Docker — here without one.
//
// An image is a subdirectory images/<name>/ holding a Go main package (other subdirectories are
// left alone). A package prebuilt.Programs lists is taken from COZYLAB_PREBUILT when it is
// there: no go command is needed then, nor a Go module around a copy of this repository's
// packages/ (the sandbox image's). Otherwise it is built with
// `go build -trimpath -buildvcs=false -ldflags=-s -w`, CGO off, for linux and this machine's
// architecture (the lab's node is this machine), from the Go module enclosing the chart
// directory; the image is that one binary at /<name>, its entrypoint, run as
// ImageUser, on an empty base. The tag is derived from the content ("sha-" and the first 12 hex
// digits of the manifest digest), and an image the registry already holds is not pushed again.
//
// values.yaml names each image's upstream repository, and Image fills in the rest:
//
//   - a chart with one image uses image.repository, image.tag and image.digest;
//   - a chart with several uses images.<name>.repository, .tag and .digest.
//
// The repository must be set. When its host is one the lab's node pulls through the lab
// registry (ghcr.io, registry.k8s.io: lab/images.Hosts), the image is pushed to
// "<Registry>/<repository>" and values.yaml keeps the upstream name, the one the node asks for. Any other repository is rewritten to "<Registry>/<its path>", as
// upstream's REGISTRY variable does, and that is what values.yaml then names. The tag and digest
// keys are added when missing (the chart's values.schema.json must allow a digest).
//
// values.yaml is edited in place: only the values that differ change, comments, blank lines and
// key order stay, and a re-run with nothing changed leaves the file byte for byte as it was (and
// pushes nothing). values.yaml is written only after every image is in the registry.
func Image(ctx context.Context, opts ImageOptions, rep progress.Reporter) (res ImageResult, err error) {
	if rep == nil {
		rep = progress.Discard
	}
	names, valuesFile, err := checkImageOptions(opts)
	if err != nil {
		return res, err
	}
	res.ValuesFile = valuesFile
	values, err := os.ReadFile(valuesFile)
	if err != nil {
		return res, fmt.Errorf("read values file: %w", err)
	}
	repos, err := imageRepositories(values, names)
	if err != nil {
		return res, err
	}
	mod, err := findModule(ctx, opts.ChartDir)
	if err != nil {
		return res, err
	}
	if err := checkBuildable(mod, opts.ChartDir, names); err != nil {
		return res, err
	}
	bin, err := os.MkdirTemp("", "cozylab-image-")
	if err != nil {
		return res, fmt.Errorf("create build directory: %w", err)
	}
	defer func() {
		if rmErr := os.RemoveAll(bin); rmErr != nil {
			err = errors.Join(err, fmt.Errorf("remove build directory %s: %w", bin, rmErr))
		}
	}()
	var set []stringValue
	for i, n := range names {
		img, vals, err := imageStep(ctx, opts, rep, mod, bin, n, imageKeys(n, len(names)), repos[i])
		if err != nil {
			return res, err
		}
		res.Images = append(res.Images, img)
		set = append(set, vals...)
	}
	for _, v := range set {
		res.Values = append(res.Values, SetValue{Key: v.Path.String(), Value: v.Value})
	}
	next, err := setStrings(values, set)
	if err != nil {
		return res, fmt.Errorf("edit %s: %w", valuesFile, err)
	}
	res.NewValues, res.ValuesChanged = next, !bytes.Equal(next, values)
	if opts.KeepValues {
		return res, nil
	}
	step := rep.Begin("Writing " + valuesFile)
	if !res.ValuesChanged {
		step.Skip("unchanged")
		return res, nil
	}
	info, err := os.Stat(valuesFile)
	if err == nil {
		err = atomicfile.WriteFile(valuesFile, next, info.Mode().Perm())
	}
	return res, step.Done(err)
}

// imageRepositories reads the repository of each image from values.
func imageRepositories(values []byte, names []string) ([]string, error) {
	repos := make([]string, len(names))
	for i, n := range names {
		key := imageKeys(n, len(names)).child("repository")
		repo, found, err := lookupString(values, key)
		if err != nil {
			return nil, fmt.Errorf("read values.yaml: %w", err)
		}
		if !found || repo == "" {
			return nil, fmt.Errorf("values.yaml has no %s: set it to the image's upstream repository, such as ghcr.io/cozylab/%s", key, n)
		}
		repos[i] = repo
	}
	return repos, nil
}

// imageStep is the progress step of image n, whose values live under keys and whose
// values.yaml repository is repo: it builds and pushes the image and returns the values to set.
func imageStep(ctx context.Context, opts ImageOptions, rep progress.Reporter, mod goModule, bin, n string, keys valuePath, repo string) (BuiltImage, []stringValue, error) {
	step := rep.Begin(fmt.Sprintf("Image %s (%s)", n, repo))
	img, err := buildImage(ctx, opts, mod, bin, n, repo, step)
	if err != nil {
		return BuiltImage{}, nil, step.Done(err)
	}
	if img.Pushed {
		step.Done(nil)
	} else {
		step.Skip("already in " + opts.Registry)
	}
	var set []stringValue
	if img.Repository != repo {
		set = append(set, stringValue{Path: keys.child("repository"), Value: img.Repository})
	}
	set = append(set,
		stringValue{Path: keys.child("tag"), Value: img.Tag},
		stringValue{Path: keys.child("digest"), Value: img.Digest})
	return img, set, nil
}

// checkImageOptions validates opts and returns the chart's image names and its values file.
func checkImageOptions(opts ImageOptions) ([]string, string, error) {
	if opts.ChartDir == "" {
		return nil, "", errors.New("no chart directory: set COZYLAB_CHART_DIR or run `make image` in the chart directory")
	}
	if _, err := os.Stat(filepath.Join(opts.ChartDir, "Chart.yaml")); err != nil {
		return nil, "", fmt.Errorf("no chart in %s: run from a chart directory (one with Chart.yaml)", opts.ChartDir)
	}
	if err := checkRegistry(opts.Registry); err != nil {
		return nil, "", err
	}
	names, err := imageNames(opts.ChartDir)
	if err != nil {
		return nil, "", err
	}
	return names, filepath.Join(opts.ChartDir, "values.yaml"), nil
}

// checkRegistry accepts a host:port (or host) and nothing else.
func checkRegistry(reg string) error {
	if reg == "" {
		return errors.New("no registry to push to: set REGISTRY to a registry's host:port, or bring a lab up (go run mage.go lab:up)")
	}
	if _, err := name.NewRegistry(reg, name.StrictValidation, name.Insecure); err != nil || strings.ContainsAny(reg, "/@") {
		return fmt.Errorf("registry %q: want the host:port of a plain-HTTP registry, such as 127.0.0.1:5000 (no scheme, no path)", reg)
	}
	return nil
}

// imageNames lists the subdirectories of the chart's images/ holding a Go main package that
// builds for linux, sorted.
func imageNames(chartDir string) ([]string, error) {
	dir := filepath.Join(chartDir, ImagesDir)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("chart %s has no %s/ directory: put each image's Go main package in %s/<name>/", chartDir, ImagesDir, ImagesDir)
	}
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}
	ctxt := build.Default
	ctxt.GOOS, ctxt.GOARCH, ctxt.CgoEnabled = "linux", runtime.GOARCH, false
	var names, others []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		pkg, err := ctxt.ImportDir(filepath.Join(dir, e.Name()), 0)
		var noGo *build.NoGoError
		switch {
		case errors.As(err, &noGo):
			others = append(others, e.Name())
		case err != nil:
			return nil, fmt.Errorf("read Go package %s/%s: %w", ImagesDir, e.Name(), err)
		case pkg.Name == "main":
			names = append(names, e.Name())
		default:
			others = append(others, e.Name())
		}
	}
	if len(names) == 0 {
		found := "it is empty"
		if len(others) > 0 {
			found = "none of " + strings.Join(others, ", ") + " does"
		}
		return nil, fmt.Errorf("chart %s has no image to build: each %s/<name>/ must hold a Go main package (%s; Dockerfiles are not built here)", chartDir, ImagesDir, found)
	}
	slices.Sort(names)
	return names, nil
}

// imageKeys is the values key of image name in a chart with count images.
func imageKeys(name string, count int) valuePath {
	if count == 1 {
		return valuePath{"image"}
	}
	return valuePath{"images", name}
}

func (p valuePath) child(key string) valuePath { return append(slices.Clip(p), key) }
