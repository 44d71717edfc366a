package registry

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fakeBinary writes a small file standing in for the operator binary.
func fakeBinary(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "cozystack-operator")
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

func TestPushBinaryImageWritesARunnableSingleLayerImage(t *testing.T) {
	r := startRegistry(t)
	pushed, err := PushBinaryImage(context.Background(), fakeBinary(t, "\x7fELF fake"), r.Ref("cozystack/operator", "dev"), ImageOptions{})
	require.NoError(t, err)
	assert.Equal(t, "dev@"+pushed.Digest, pushed.Revision)

	img := pullImage(t, pushed.Ref)
	m, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, types.OCIManifestSchema1, m.MediaType)
	assert.Equal(t, types.OCIConfigJSON, m.Config.MediaType)
	require.Len(t, m.Layers, 1)
	assert.Equal(t, types.OCILayer, m.Layers[0].MediaType)

	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, "linux", cfg.OS)
	assert.Equal(t, "amd64", cfg.Architecture)
	assert.Equal(t, []string{"/usr/bin/cozystack-operator"}, cfg.Config.Entrypoint)
	assert.Empty(t, cfg.Config.Cmd)
	assert.Equal(t, "65532", cfg.Config.User)
	require.Len(t, cfg.RootFS.DiffIDs, 1)
	layer, err := img.LayerByDiffID(cfg.RootFS.DiffIDs[0])
	require.NoError(t, err, "the config must name the layer's diff ID")
	assert.NotNil(t, layer)

	mtime := time.Unix(0, 0).UTC()
	assert.Equal(t, []tarEntry{
		{"usr/", '5', 0o755, 0, 0, mtime, ""},
		{"usr/bin/", '5', 0o755, 0, 0, mtime, ""},
		{"usr/bin/cozystack-operator", '0', 0o755, 0, 0, mtime, "\x7fELF fake"},
	}, layerEntries(t, img))
}

func TestUncompressedBinaryImage(t *testing.T) {
	r := startRegistry(t)
	gz, err := PushBinaryImage(context.Background(), fakeBinary(t, "\x7fELF fake"), r.Ref("echo", "gz"), ImageOptions{Path: "/echo"})
	require.NoError(t, err)
	pushed, err := PushBinaryImage(context.Background(), fakeBinary(t, "\x7fELF fake"), r.Ref("echo", "tar"), ImageOptions{Path: "/echo", Uncompressed: true})
	require.NoError(t, err)
	assert.NotEqual(t, gz.Digest, pushed.Digest, "another layer, another image")

	img := pullImage(t, pushed.Ref)
	m, err := img.Manifest()
	require.NoError(t, err)
	require.Len(t, m.Layers, 1)
	assert.Equal(t, types.OCIUncompressedLayer, m.Layers[0].MediaType)
	cfg, err := img.ConfigFile()
	require.NoError(t, err)
	assert.Equal(t, m.Layers[0].Digest, cfg.RootFS.DiffIDs[0], "a plain tar's digest is its diff ID")
	mtime := time.Unix(0, 0).UTC()
	assert.Equal(t, []tarEntry{{"echo", '0', 0o755, 0, 0, mtime, "\x7fELF fake"}}, layerEntries(t, img))
}

func TestBinaryImageOptions(t *testing.T) {
	bin := fakeBinary(t, "binary")
	t.Run("docker media types", func(t *testing.T) {
		img, err := BinaryImage(bin, ImageOptions{MediaTypes: DockerMediaTypes})
		require.NoError(t, err)
		m, err := img.Manifest()
		require.NoError(t, err)
		assert.Equal(t, types.DockerManifestSchema2, m.MediaType)
		assert.Equal(t, types.DockerConfigJSON, m.Config.MediaType)
		assert.Equal(t, types.DockerLayer, m.Layers[0].MediaType)
	})
	t.Run("path, args, user and arch", func(t *testing.T) {
		img, err := BinaryImage(bin, ImageOptions{Path: "/bin/tool", Args: []string{"serve"}, User: "1000:1000", Arch: "arm64"})
		require.NoError(t, err)
		cfg, err := img.ConfigFile()
		require.NoError(t, err)
		assert.Equal(t, v1.Config{
			Entrypoint: []string{"/bin/tool"}, Cmd: []string{"serve"}, User: "1000:1000",
			Env: []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		}, cfg.Config)
		assert.Equal(t, "arm64", cfg.Architecture)
		names := []string{}
		for _, e := range layerEntries(t, img) {
			names = append(names, e.Name)
		}
		assert.Equal(t, []string{"bin/", "bin/tool"}, names)
	})
	t.Run("bad path", func(t *testing.T) {
		for _, p := range []string{"usr/bin/x", "/usr/../x", "/"} {
			_, err := BinaryImage(bin, ImageOptions{Path: p})
			assert.ErrorContains(t, err, "want a clean absolute file path", p)
		}
	})
	t.Run("missing binary", func(t *testing.T) {
		_, err := BinaryImage(filepath.Join(t.TempDir(), "nope"), ImageOptions{})
		assert.ErrorContains(t, err, "read binary")
	})
	t.Run("reproducible", func(t *testing.T) {
		a, err := BinaryImage(bin, ImageOptions{})
		require.NoError(t, err)
		b, err := BinaryImage(fakeBinary(t, "binary"), ImageOptions{})
		require.NoError(t, err)
		da, err := a.Digest()
		require.NoError(t, err)
		db, err := b.Digest()
		require.NoError(t, err)
		assert.Equal(t, da, db)
	})
}
