package e2e

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing/fstest"

	"github.com/fluxcd/pkg/sourceignore"

	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

// Repositories of the lab registry the pipeline pushes to.
const (
	PackagesRepo = "cozystack-packages"
	OperatorRepo = "cozystack-operator"
	// DefaultPushTag tags what a run pushes when Options.PushTag is empty.
	DefaultPushTag = "lab"
)

// pushed are the references the installer chart points at.
type pushed struct {
	registry       string // as the cluster reaches it
	packagesDigest string // sha256:… of the packages artifact
	operatorImage  string // <registry>/cozystack-operator@sha256:…
}

// pushArtifacts builds the operator image (no Docker: a static binary on an empty base), the
// packages' own images (make image) and the packages/ tree as a Flux artifact, and pushes them
// to the lab registry. Both are
// reproducible: pushing unchanged sources again gives the same digests, so nothing downstream
// changes.
func pushArtifacts(ctx context.Context, e *env, step progress.Step) error {
	reg, err := e.o.Lab.Registry()
	if err != nil {
		return err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return fmt.Errorf("find the cache directory: %w", err)
	}
	bin := filepath.Join(cache, "cozylab", "e2e", "cozystack-operator")
	build := e.o.Progress.Begin(operatorBuildStep)
	err = registry.BuildOperatorBinary(ctx, e.o.RepoRoot, bin)
	if p, ok := prebuilt.Path(prebuilt.Operator); ok && err == nil {
		build.Skip("prebuilt: " + p)
	} else if err := build.Done(err); err != nil {
		return err
	}
	step.Status("pushing the operator image to %s", reg)
	img, err := registry.PushBinaryImage(ctx, bin, fmt.Sprintf("%s/%s:%s", reg, OperatorRepo, e.o.pushTag()), registry.ImageOptions{})
	if err != nil {
		return err
	}
	overlay, err := packageImages(ctx, e, reg, step)
	if err != nil {
		return err
	}
	tree, err := packagesTree(e.o.packagesDir(), overlay)
	if err != nil {
		return err
	}
	step.Status("pushing %s (%d files) as a Flux artifact", e.o.packagesDir(), len(tree))
	art, err := registry.PushDirectory(ctx, tree, fmt.Sprintf("%s/%s:%s", reg, PackagesRepo, e.o.pushTag()),
		registry.ArtifactMeta{Source: "cozylab", Revision: "lab"})
	if err != nil {
		return err
	}
	inCluster, err := e.o.Lab.ClusterRegistry()
	if err != nil {
		return err
	}
	e.pushed = pushed{registry: inCluster, packagesDigest: art.Digest, operatorImage: fmt.Sprintf("%s/%s@%s", inCluster, OperatorRepo, img.Digest)}
	step.Status("operator %s, packages %s", shortDigest(img.Digest), shortDigest(art.Digest))
	return nil
}

// packagesTree reads a packages tree as `flux push artifact` packs it: regular files only (a
// symlink, to a file or a directory, is left out), without what its .sourceignore files
// (gitignore syntax, at any depth) and Flux's version-control patterns (.git/ …) exclude;
// then the overlay's files are added or replaced, and the platform chart's version stamped.
func packagesTree(dir string, overlay map[string][]byte) (fstest.MapFS, error) {
	ignores, err := sourceignore.LoadIgnorePatterns(dir, nil)
	if err != nil {
		return nil, fmt.Errorf("read the .sourceignore files of %s: %w", dir, err)
	}
	ignored := sourceignore.NewMatcher(append(sourceignore.VCSPatterns(nil), ignores...))
	tree := fstest.MapFS{}
	err = fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		switch {
		case err != nil:
			return err
		case p == ".":
			return nil
		case ignored.Match(strings.Split(p, "/"), d.IsDir()):
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		case !d.Type().IsRegular():
			return nil // a directory (walked into), a symlink or a device
		}
		data, err := os.ReadFile(filepath.Join(dir, p))
		if err != nil {
			return err
		}
		tree[p] = &fstest.MapFile{Data: data, Mode: 0o644}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", dir, err)
	}
	for p, data := range overlay {
		tree[p] = &fstest.MapFile{Data: data, Mode: 0o644}
	}
	return tree, stampPlatform(tree)
}

// platformChart is the chart whose version is stamped with the tree's revision.
const platformChart = "core/platform/Chart.yaml"

// chartVersion finds a Chart.yaml's version line: the value plain, double- or single-quoted,
// with or without a trailing comment ("version: 0.0.0 # stamped by the release").
var chartVersion = regexp.MustCompile(`(?m)^version:[ \t]*(?:"([^"\n]+)"|'([^'\n]+)'|([^\s#'"]+))[ \t]*(#[^\n]*)?$`)

// stampPlatform adds the digest of the rest of the tree to the platform chart's version as
// build metadata, as a release build stamps versions: the platform release then upgrades
// whenever any package changes, and with it its copy of the platform source
// (cozystack-packages), which every PackageSource reads. Without it, a changed package would
// never reach the cluster while the platform chart itself is unchanged.
func stampPlatform(tree fstest.MapFS) error {
	f, ok := tree[platformChart]
	if !ok {
		return fmt.Errorf("stamp the platform chart: %s is missing from packages/", platformChart)
	}
	h := sha256.New()
	for _, p := range slices.Sorted(maps.Keys(tree)) {
		if p != platformChart {
			fmt.Fprintf(h, "%s\x00%d\x00", p, len(tree[p].Data))
			h.Write(tree[p].Data)
		}
	}
	v, ok := findVersion(f.Data)
	if !ok {
		return fmt.Errorf("stamp the platform chart: %s has no version line (version: x.y.z)", platformChart)
	}
	sep := "+"
	if strings.Contains(v.value, "+") {
		sep = "."
	}
	stamped := fmt.Sprintf("version: %s%slab.%x%s", v.value, sep, h.Sum(nil)[:6], v.comment)
	data := append(append(slices.Clone(f.Data[:v.start]), stamped...), f.Data[v.end:]...)
	tree[platformChart] = &fstest.MapFile{Data: data, Mode: f.Mode}
	return nil
}

// versionLine is a Chart.yaml's version line: where it is, its value without quotes, and its
// trailing comment (" # …") if any.
type versionLine struct {
	start, end     int
	value, comment string
}

func findVersion(chart []byte) (versionLine, bool) {
	m := chartVersion.FindSubmatchIndex(chart)
	if m == nil {
		return versionLine{}, false
	}
	v := versionLine{start: m[0], end: m[1]}
	for g := 1; g <= 3; g++ { // the double-quoted, single-quoted or plain form, whichever matched
		if m[2*g] >= 0 {
			v.value = string(chart[m[2*g]:m[2*g+1]])
		}
	}
	if m[8] >= 0 {
		v.comment = " " + string(chart[m[8]:m[9]])
	}
	return v, true
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
