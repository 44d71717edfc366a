package registry

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// chartTree is a small chart-shaped tree used by the artifact tests.
func chartTree() fstest.MapFS {
	return fstest.MapFS{
		"core/demo/Chart.yaml":                {Data: []byte("apiVersion: v2\nname: demo\nversion: 0.1.0\n"), Mode: 0o444},
		"core/demo/values.yaml":               {Data: []byte("replicas: 1\n"), Mode: 0o600},
		"core/demo/templates/_helpers.tpl":    {Data: []byte("{{/* helpers */}}\n")},
		"core/demo/templates/deployment.yaml": {Data: []byte("kind: Deployment\n"), Mode: 0o755},
		"apps/empty":                          {Mode: os.ModeDir | 0o700},
	}
}

// pullImage reads ref back from the registry, as a client would.
func pullImage(t *testing.T, ref string) v1.Image {
	t.Helper()
	r, err := name.ParseReference(ref, name.Insecure)
	require.NoError(t, err)
	img, err := remote.Image(r)
	require.NoError(t, err)
	return img
}

// tarEntry is what the tests check of one archive entry.
type tarEntry struct {
	Name     string
	Type     byte
	Mode     int64
	UID, GID int
	ModTime  time.Time
	Data     string
}

// layerEntries lists the single layer's entries in archive order.
func layerEntries(t *testing.T, img v1.Image) []tarEntry {
	t.Helper()
	layers, err := img.Layers()
	require.NoError(t, err)
	require.Len(t, layers, 1)
	rc, err := layers[0].Uncompressed()
	require.NoError(t, err)
	defer rc.Close()
	var out []tarEntry
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		data, err := io.ReadAll(tr)
		require.NoError(t, err)
		out = append(out, tarEntry{h.Name, h.Typeflag, h.Mode, h.Uid, h.Gid, h.ModTime.UTC(), string(data)})
	}
}

func TestPushDirectoryWritesTheFluxArtifactLayout(t *testing.T) {
	r := startRegistry(t)
	created := time.Date(2026, 11, 23, 12, 0, 0, 0, time.FixedZone("CET", 3600))
	meta := ArtifactMeta{Created: created, Source: "https://example.com/cozylab", Revision: "main@sha1:0123abcd"}
	pushed, err := PushDirectory(context.Background(), chartTree(), r.Ref("cozylab/packages", "v0.1.0"), meta)
	require.NoError(t, err)

	img := pullImage(t, pushed.Ref)
	digest, err := img.Digest()
	require.NoError(t, err)
	assert.Equal(t, pushed.Digest, digest.String())
	assert.Equal(t, "v0.1.0@"+digest.String(), pushed.Revision)
	assert.Equal(t, r.Addr()+"/cozylab/packages:v0.1.0", pushed.Ref)
	byDigest, err := pushed.DigestRef()
	require.NoError(t, err)
	assert.Equal(t, r.Addr()+"/cozylab/packages@"+digest.String(), byDigest)

	m, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, types.OCIManifestSchema1, m.MediaType)
	assert.Equal(t, FluxConfigMediaType, m.Config.MediaType)
	require.Len(t, m.Layers, 1)
	assert.Equal(t, FluxContentMediaType, m.Layers[0].MediaType)
	assert.Equal(t, map[string]string{
		AnnotationCreated:  "2026-11-23T11:00:00Z",
		AnnotationSource:   "https://example.com/cozylab",
		AnnotationRevision: "main@sha1:0123abcd",
	}, m.Annotations)

	// go-containerregistry leaves a non-image config untouched by mutate.Append, so the config
	// blob is exactly the empty image's, as in an artifact made by `flux push artifact`.
	raw, err := img.RawConfigFile()
	require.NoError(t, err)
	assert.JSONEq(t, `{"architecture":"","created":"0001-01-01T00:00:00Z","os":"",
		"rootfs":{"type":"layers","diff_ids":null},"config":{}}`, string(raw))

	mtime := time.Unix(0, 0).UTC()
	assert.Equal(t, []tarEntry{
		{"apps/", tar.TypeDir, 0o755, 0, 0, mtime, ""},
		{"apps/empty/", tar.TypeDir, 0o755, 0, 0, mtime, ""},
		{"core/", tar.TypeDir, 0o755, 0, 0, mtime, ""},
		{"core/demo/", tar.TypeDir, 0o755, 0, 0, mtime, ""},
		{"core/demo/Chart.yaml", tar.TypeReg, 0o644, 0, 0, mtime, "apiVersion: v2\nname: demo\nversion: 0.1.0\n"},
		{"core/demo/templates/", tar.TypeDir, 0o755, 0, 0, mtime, ""},
		{"core/demo/templates/_helpers.tpl", tar.TypeReg, 0o644, 0, 0, mtime, "{{/* helpers */}}\n"},
		{"core/demo/templates/deployment.yaml", tar.TypeReg, 0o644, 0, 0, mtime, "kind: Deployment\n"},
		{"core/demo/values.yaml", tar.TypeReg, 0o644, 0, 0, mtime, "replicas: 1\n"},
	}, layerEntries(t, img))
}

func TestPushDirectoryOmitsUnsetAnnotations(t *testing.T) {
	img, err := FluxArtifact(chartTree(), ArtifactMeta{Revision: "v1"})
	require.NoError(t, err)
	m, err := img.Manifest()
	require.NoError(t, err)
	assert.Equal(t, map[string]string{AnnotationRevision: "v1"}, m.Annotations)
}

// writeTree writes tree to a fresh directory, the way a checkout holds it.
func writeTree(t *testing.T, tree fstest.MapFS) string {
	t.Helper()
	dir := t.TempDir()
	for p, f := range tree {
		full := filepath.Join(dir, filepath.FromSlash(p))
		if f.Mode.IsDir() {
			require.NoError(t, os.MkdirAll(full, 0o700))
			continue
		}
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o750))
		require.NoError(t, os.WriteFile(full, f.Data, 0o664))
	}
	return dir
}

func TestFluxArtifactDigestDependsOnContentOnly(t *testing.T) {
	meta := ArtifactMeta{Created: time.Unix(1700000000, 0), Revision: "main@sha1:1"}
	digestOf := func(t *testing.T, fsys fs.FS, meta ArtifactMeta) string {
		t.Helper()
		img, err := FluxArtifact(fsys, meta)
		require.NoError(t, err)
		d, err := img.Digest()
		require.NoError(t, err)
		return d.String()
	}
	first := digestOf(t, chartTree(), meta)

	t.Run("same tree again", func(t *testing.T) {
		assert.Equal(t, first, digestOf(t, chartTree(), meta))
	})
	t.Run("same tree on disk with other modes and times", func(t *testing.T) {
		assert.Equal(t, first, digestOf(t, os.DirFS(writeTree(t, chartTree())), meta))
	})
	t.Run("one byte changed", func(t *testing.T) {
		tree := chartTree()
		tree["core/demo/values.yaml"] = &fstest.MapFile{Data: []byte("replicas: 2\n")}
		assert.NotEqual(t, first, digestOf(t, tree, meta))
	})
	t.Run("other revision", func(t *testing.T) {
		assert.NotEqual(t, first, digestOf(t, chartTree(), ArtifactMeta{Created: meta.Created, Revision: "main@sha1:2"}))
	})
}

func TestFluxArtifactRejectsSymlinks(t *testing.T) {
	dir := writeTree(t, chartTree())
	require.NoError(t, os.Symlink("values.yaml", filepath.Join(dir, "core/demo/link.yaml")))
	_, err := FluxArtifact(os.DirFS(dir), ArtifactMeta{})
	require.ErrorContains(t, err, "core/demo/link.yaml")
	assert.ErrorContains(t, err, "not a directory or a regular file")
}
