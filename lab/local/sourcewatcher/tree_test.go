package sourcewatcher

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// entries lists the headers of a tar.gz.
func entries(t *testing.T, data []byte) []*tar.Header {
	t.Helper()
	gz, err := gzip.NewReader(bytes.NewReader(data))
	require.NoError(t, err)
	tr := tar.NewReader(gz)
	var out []*tar.Header
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		require.NoError(t, err)
		out = append(out, h)
	}
}

func names(hs []*tar.Header) []string {
	out := make([]string, 0, len(hs))
	for _, h := range hs {
		out = append(out, h.Name)
	}
	return out
}

func TestTarballIsReproducible(t *testing.T) {
	tree := Tree{
		"demo/values.yaml":           {Data: []byte("a: 1\n")},
		"demo/Chart.yaml":            {Data: []byte("name: demo\n")},
		"demo/templates/deploy.yaml": {Data: []byte("kind: Deployment\n")},
		"demo/bin/run.sh":            {Data: []byte("#!/bin/sh\n"), Executable: true},
	}
	a, err := Tarball(tree)
	require.NoError(t, err)
	copied := Tree{}
	for k, v := range tree {
		copied[k] = v
	}
	b, err := Tarball(copied)
	require.NoError(t, err)
	assert.Equal(t, sha256Hex(a), sha256Hex(b), "equal trees must give equal digests")

	hs := entries(t, a)
	assert.Equal(t, []string{"demo/", "demo/Chart.yaml", "demo/bin/", "demo/bin/run.sh", "demo/templates/", "demo/templates/deploy.yaml", "demo/values.yaml"}, names(hs))
	for _, h := range hs {
		assert.True(t, h.ModTime.Equal(time.Unix(0, 0)), "%s mtime %s", h.Name, h.ModTime)
		assert.Zero(t, h.Uid)
	}
	assert.Equal(t, int64(0o755), hs[3].Mode, "executable bit kept")
	assert.Equal(t, int64(0o644), hs[1].Mode)

	changed := Tree{"demo/Chart.yaml": {Data: []byte("name: demo2\n")}}
	c, err := Tarball(changed)
	require.NoError(t, err)
	assert.NotEqual(t, sha256Hex(a), sha256Hex(c))
}

func TestTarballTopLevelDirectory(t *testing.T) {
	data, err := Tarball(Tree{"Chart.yaml": {Data: []byte("x")}, "templates/a.yaml": {Data: []byte("y")}})
	require.NoError(t, err)
	assert.Equal(t, []string{".", "./Chart.yaml", "./templates/", "./templates/a.yaml"}, names(entries(t, data)),
		"files at the root are put below one top-level directory, as Helm needs")

	data, err = Tarball(Tree{"a/x": {Data: []byte("x")}, "b/y": {Data: []byte("y")}})
	require.NoError(t, err)
	assert.Equal(t, []string{".", "./a/", "./a/x", "./b/", "./b/y"}, names(entries(t, data)))

	_, err = Tarball(Tree{})
	require.Error(t, err)
}

func TestUntarRoundTrip(t *testing.T) {
	tree := Tree{"demo/Chart.yaml": {Data: []byte("name: demo\n")}, "demo/run.sh": {Data: []byte("x"), Executable: true}}
	data, err := Tarball(tree)
	require.NoError(t, err)
	got, err := Untar(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, tree, got)

	data, err = Tarball(Tree{"Chart.yaml": {Data: []byte("x")}})
	require.NoError(t, err)
	got, err = Untar(bytes.NewReader(data))
	require.NoError(t, err)
	assert.Equal(t, Tree{"Chart.yaml": {Data: []byte("x")}}, got, "./ prefixes are dropped")
}

func TestUntarRefusesTraversal(t *testing.T) {
	for _, name := range []string{"../evil", "/etc/passwd", "a/../../evil"} {
		var buf bytes.Buffer
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		require.NoError(t, tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Size: 1, Mode: 0o644}))
		_, err := tw.Write([]byte("x"))
		require.NoError(t, err)
		require.NoError(t, tw.Close())
		require.NoError(t, gz.Close())
		_, err = Untar(&buf)
		require.Error(t, err, name)
		assert.Contains(t, err.Error(), "leaves the archive root")
	}
}

func TestVerifyDigest(t *testing.T) {
	data := []byte("hello")
	require.NoError(t, verifyDigest(data, "sha256:"+sha256Hex(data)))
	assert.ErrorContains(t, verifyDigest(data, "sha256:00"), "digest mismatch")
	assert.ErrorContains(t, verifyDigest(data, "md5:00"), "unsupported digest")
}
