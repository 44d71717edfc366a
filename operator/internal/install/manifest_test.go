package install

import (
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseSkipsEmptyDocuments(t *testing.T) {
	objs, err := Parse("x.yaml", []byte("---\n# comment only\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n---\n\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: b\n  namespace: a\n"))
	require.NoError(t, err)
	require.Len(t, objs, 2)
	assert.Equal(t, "Namespace", objs[0].GetKind())
	assert.Equal(t, "a/b", objectName(objs[1]))
}

func TestParseRejectsDocumentWithoutKind(t *testing.T) {
	_, err := Parse("x.yaml", []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\nmetadata: {name: b}\n"))
	require.EqualError(t, err, "parse x.yaml document 2: no apiVersion or kind")
}

func TestParseFS(t *testing.T) {
	fsys := fstest.MapFS{
		"b.yaml": {Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: b}\n")},
		"a.yaml": {Data: []byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n")},
		"c.txt":  {Data: []byte("not yaml: [")},
	}
	objs, err := ParseFS(fsys)
	require.NoError(t, err)
	require.Len(t, objs, 2)
	assert.Equal(t, "a", objs[0].GetName(), "files in sorted order")
	_, err = ParseFS(fstest.MapFS{})
	require.EqualError(t, err, "parse manifests: no YAML files")
	_, err = ParseFS(fsys, "missing.yaml")
	require.ErrorContains(t, err, "read manifest missing.yaml")
}
