package cozypkg

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

const multiDoc = `# leading comment
apiVersion: cozystack.io/v1alpha1
kind: PackageSource
metadata:
  name: cozystack.db
---
apiVersion: cozystack.io/v1alpha1
kind: Package
metadata:
  name: cozystack.db
  resourceVersion: "42"
spec:
  variant: ha
  components:
    postgres:
      values:
        replicas: 3
        big: 12345678901234567890
---
---
this: is: not: yaml
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: not-a-package
---
kind: Package
metadata:
  name: no-api-version
---
apiVersion: cozystack.io/v1alpha1
kind: Package
metadata:
  name: bad-spec
spec: "a string"
---
apiVersion: cozystack.io/v1alpha1
kind: Package
metadata:
  labels: {}
---
apiVersion: cozystack.io/v1alpha1
kind: Package
metadata:
  name: cozystack.description
spec:
  variant: "a---b"
`

func TestReadManifestsMultiDocument(t *testing.T) {
	dir := writeFiles(t, map[string]string{"all.yaml": multiDoc})
	path := filepath.Join(dir, "all.yaml")
	got, err := ReadManifests([]string{path})
	require.NoError(t, err)

	var names []string
	for _, m := range got {
		names = append(names, m.Name)
		assert.Equal(t, path, m.Path)
	}
	assert.Equal(t, []string{"cozystack.db", "cozystack.db", "cozystack.description"}, names,
		"undecodable, foreign, kind-less and nameless documents are skipped")
	assert.Nil(t, got[0].Package, "a PackageSource names a package but carries no Package")
	pkg := got[1].Package
	require.NotNil(t, pkg)
	assert.Equal(t, "ha", pkg.Spec.Variant)
	assert.Empty(t, pkg.ResourceVersion, "server-owned fields are dropped before a create")
	assert.Equal(t, "cozystack.io/v1alpha1", pkg.APIVersion)
	assert.JSONEq(t, `{"replicas":3,"big":12345678901234567890}`, string(pkg.Spec.Components["postgres"].Values.Raw))
	assert.Equal(t, "a---b", got[2].Package.Spec.Variant, "documents split at separator lines, not inside values")
}

func TestReadManifestsDirectoryAndLists(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"b.yaml": "apiVersion: cozystack.io/v1alpha1\nkind: PackageSource\nmetadata: {name: from-b}\n",
		"a/nested/c.yml": "apiVersion: cozystack.io/v1alpha1\nkind: PackageList\nitems:\n" +
			"- metadata: {name: item-1}\n  spec: {variant: v1}\n- metadata: {name: item-2}\n",
		"a/sources.yaml": "apiVersion: cozystack.io/v1alpha1\nkind: PackageSourceList\nitems:\n" +
			"- metadata: {name: source-1}\n- metadata: {}\n",
		"notes.txt":      "apiVersion: cozystack.io/v1alpha1\nkind: PackageSource\nmetadata: {name: ignored}\n",
		"empty.yaml":     "",
		"a/garbage.yaml": "\x00\x01 not yaml [",
	})
	got, err := ReadManifests([]string{dir})
	require.NoError(t, err)
	var names []string
	for _, m := range got {
		names = append(names, m.Name)
	}
	assert.Equal(t, []string{"item-1", "item-2", "source-1", "from-b"}, names,
		"walked recursively in lexical order, .yaml and .yml only")
	require.NotNil(t, got[0].Package)
	assert.Equal(t, "v1", got[0].Package.Spec.Variant)
	assert.Equal(t, filepath.Join(dir, "a/nested/c.yml"), got[0].Path, "the file, not the directory")
	assert.Nil(t, got[2].Package)

	single, err := ReadManifests([]string{filepath.Join(dir, "notes.txt")})
	require.NoError(t, err)
	require.Len(t, single, 1, "a file named explicitly is read whatever its extension")

	_, err = ReadManifests([]string{filepath.Join(dir, "missing.yaml")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read packages from "+filepath.Join(dir, "missing.yaml"))
}

func TestRequestedMergesArgumentsAndFiles(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"one.yaml": "apiVersion: cozystack.io/v1alpha1\nkind: Package\nmetadata: {name: shared}\nspec: {variant: one}\n" +
			"---\napiVersion: cozystack.io/v1alpha1\nkind: Package\nmetadata: {name: only-one}\n",
		"two.yaml": "apiVersion: cozystack.io/v1alpha1\nkind: PackageSource\nmetadata: {name: shared}\n" +
			"---\napiVersion: cozystack.io/v1alpha1\nkind: Package\nmetadata: {name: shared}\nspec: {variant: two}\n",
	})
	one, two := filepath.Join(dir, "one.yaml"), filepath.Join(dir, "two.yaml")
	var warn bytes.Buffer
	names, byName, err := requested([]string{"arg", "only-one", "arg"}, []string{one, two}, &warn)
	require.NoError(t, err)
	assert.Equal(t, []string{"arg", "only-one", "shared"}, names, "arguments first, then files, each name once")
	assert.Equal(t, "two", byName["shared"].Package.Spec.Variant, "the last file wins; in it the Package beats the PackageSource")
	assert.Equal(t, one, byName["only-one"].Path)
	assert.Equal(t, "warning: package \"shared\" is defined in both "+one+" and "+two+", using the latter\n", warn.String(),
		"one warning per conflicting file, none for the PackageSource and Package of one file")

	names, _, err = requested(nil, nil, &warn)
	require.NoError(t, err)
	assert.Empty(t, names)
}
