package e2e

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing/fstest"

	"github.com/cozylab/cozylab/lab/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

// Repositories of the lab registry the pipeline pushes to.
const (
	PackagesRepo = "cozystack-packages"
	OperatorRepo = "cozystack-operator"
	pushTag      = "lab"
)

// pushed are the references the installer chart points at.
type pushed struct {
	registry       string
	packagesDigest string // sha256:… of the packages artifact
	operatorImage  string // <registry>/cozystack-operator@sha256:…
}

// pushArtifacts builds the operator image (no Docker: a static binary on an empty base) and
// the packages/ tree as a Flux artifact, and pushes both to the lab registry. Both are
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
	step.Status("building the operator binary")
	if err := registry.BuildOperatorBinary(ctx, e.o.RepoRoot, bin); err != nil {
		return err
	}
	step.Status("pushing the operator image to %s", reg)
	img, err := registry.PushBinaryImage(ctx, bin, fmt.Sprintf("%s/%s:%s", reg, OperatorRepo, pushTag), registry.ImageOptions{})
	if err != nil {
		return err
	}
	tree, err := packagesTree(filepath.Join(e.o.RepoRoot, "packages"), e.o.Overlay)
	if err != nil {
		return err
	}
	step.Status("pushing packages/ (%d files) as a Flux artifact", len(tree))
	art, err := registry.PushDirectory(ctx, tree, fmt.Sprintf("%s/%s:%s", reg, PackagesRepo, pushTag),
		registry.ArtifactMeta{Source: "cozylab", Revision: "lab"})
	if err != nil {
		return err
	}
	e.pushed = pushed{registry: reg, packagesDigest: art.Digest, operatorImage: fmt.Sprintf("%s/%s@%s", reg, OperatorRepo, img.Digest)}
	step.Status("operator %s, packages %s", shortDigest(img.Digest), shortDigest(art.Digest))
	return nil
}

// packagesTree is the packages/ directory without its Go files (tests and the embed
// declaration), with the overlay's files added or replaced.
func packagesTree(dir string, overlay map[string][]byte) (fstest.MapFS, error) {
	tree := fstest.MapFS{}
	err := fs.WalkDir(os.DirFS(dir), ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".go") {
			return err
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
	return tree, nil
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}
