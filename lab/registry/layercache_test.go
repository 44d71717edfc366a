package registry

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBinaryImageFromTheLayerCache: the second build of the same binary takes its layer from
// the cache and gives the same image digest; a changed binary does not.
func TestBinaryImageFromTheLayerCache(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	bin := filepath.Join(t.TempDir(), "app")
	require.NoError(t, os.WriteFile(bin, []byte("\x7fELF not really, but bytes"), 0o755))
	first, err := BinaryImage(bin, ImageOptions{Path: "/app"})
	require.NoError(t, err)
	layers, _ := filepath.Glob(filepath.Join(os.Getenv("XDG_CACHE_HOME"), "cozylab", "layers", "*.tar.gz"))
	require.Len(t, layers, 1, "the compressed layer is kept")
	second, err := BinaryImage(bin, ImageOptions{Path: "/app"})
	require.NoError(t, err)
	d1, _ := first.Digest()
	d2, _ := second.Digest()
	assert.Equal(t, d1, d2, "the cached layer is the same bytes")

	require.NoError(t, os.WriteFile(bin, []byte("\x7fELF other bytes"), 0o755))
	third, err := BinaryImage(bin, ImageOptions{Path: "/app"})
	require.NoError(t, err)
	d3, _ := third.Digest()
	assert.NotEqual(t, d1, d3, "another binary, another layer")
	other, err := BinaryImage(bin, ImageOptions{Path: "/elsewhere"})
	require.NoError(t, err)
	d4, _ := other.Digest()
	assert.NotEqual(t, d3, d4, "the same binary at another path, another layer")
}

func TestPruneLayersKeepsTheMostRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	for i := range layerCacheKeep + 3 {
		require.NoError(t, os.WriteFile(filepath.Join(dir, string(rune('a'+i))+".tar.gz"), nil, 0o644))
	}
	pruneLayers(dir)
	left, _ := filepath.Glob(filepath.Join(dir, "*.tar.gz"))
	assert.Len(t, left, layerCacheKeep)
}
