package registry

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cozylab/cozylab/internal/atomicfile"
)

// layerCacheKeep is how many compressed layers the cache keeps, the most recently used: a lab's
// images and a sandbox image (one layer per program) together.
const layerCacheKeep = 48

// layerFormat changes whenever writeBinaryTree or tarGzip would write other bytes for the
// same input, so no cached layer of an older format is used.
const layerFormat = "binary-tree-v1"

// cachedBinaryLayer returns the compressed layer holding data at path, from the cache in the
// user's cache directory when an earlier build made it — compressing a 100 MB binary takes
// seconds, and a lab assembles its images on every up — else from build, which it then
// keeps. The bytes are the same either way, so the image digest is too. Without a cache
// directory it just builds.
func cachedBinaryLayer(path string, data []byte, build func() ([]byte, error)) ([]byte, error) {
	root, err := os.UserCacheDir()
	if err != nil {
		return build()
	}
	dir := filepath.Join(root, "cozylab", "layers")
	h := sha256.New()
	h.Write([]byte(layerFormat + "\x00" + path + "\x00"))
	h.Write(data)
	file := filepath.Join(dir, hex.EncodeToString(h.Sum(nil))+".tar.gz")
	if blob, err := os.ReadFile(file); err == nil {
		now := time.Now()
		_ = os.Chtimes(file, now, now) // most recently used
		return blob, nil
	}
	blob, err := build()
	if err != nil {
		return nil, err
	}
	if os.MkdirAll(dir, 0o755) == nil && atomicfile.WriteFile(file, blob, 0o644) == nil {
		pruneLayers(dir)
	}
	return blob, nil
}

// pruneLayers removes all but the layerCacheKeep most recently used layers.
func pruneLayers(dir string) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	type layer struct {
		name string
		used time.Time
	}
	var layers []layer
	for _, e := range entries {
		if info, err := e.Info(); err == nil && strings.HasSuffix(e.Name(), ".tar.gz") {
			layers = append(layers, layer{e.Name(), info.ModTime()})
		}
	}
	slices.SortFunc(layers, func(a, b layer) int { return b.used.Compare(a.used) })
	for _, l := range layers[min(len(layers), layerCacheKeep):] {
		_ = os.Remove(filepath.Join(dir, l.name))
	}
}
