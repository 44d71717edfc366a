package e2e

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/packageloop"
)

// packageImages builds the images of every chart in the tree that has an images/ directory
// (`make image`, lab/packageloop.Image) and pushes them to the lab registry; it returns the
// overlay that points each chart's values.yaml at what was built, leaving the working tree as
// it is. A chart outside any Go module (a tree copied elsewhere) keeps its values, and says so.
func packageImages(ctx context.Context, e *env, reg string, step progress.Step) (map[string][]byte, error) {
	dir := e.o.packagesDir()
	overlay := maps.Clone(e.o.Overlay)
	if overlay == nil {
		overlay = map[string][]byte{}
	}
	var charts []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() || d.Name() != packageloop.ImagesDir {
			return err
		}
		chart := filepath.Dir(p)
		if _, err := os.Stat(filepath.Join(chart, "Chart.yaml")); err == nil {
			charts = append(charts, chart)
		}
		return fs.SkipDir
	})
	if err != nil {
		return nil, fmt.Errorf("find the charts with images in %s: %w", dir, err)
	}
	for _, chart := range charts {
		rel, err := filepath.Rel(dir, chart)
		if err != nil {
			return nil, err
		}
		values := filepath.ToSlash(filepath.Join(rel, "values.yaml"))
		if _, set := overlay[values]; set {
			continue // the caller's values win
		}
		res, err := packageloop.Image(ctx, packageloop.ImageOptions{ChartDir: chart, Registry: reg, KeepValues: true}, e.o.Progress)
		if errors.Is(err, packageloop.ErrNoGoModule) {
			step.Status("images of %s not built (%v): its values name them as they are", rel, err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("build the images of %s: %w", rel, err)
		}
		for _, img := range res.Images {
			step.Status("image %s:%s of %s", img.Repository, img.Tag, rel)
		}
		overlay[values] = res.NewValues
	}
	return overlay, nil
}
