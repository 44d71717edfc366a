package packageloop

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMakefileNames(t *testing.T) {
	for _, tt := range []struct {
		name, makefile, wantName, wantNS string
	}{
		{"upstream style", "export NAME=cilium\nexport NAMESPACE=cozy-$(NAME)\n\ninclude ../../../scripts/package.mk\n", "cilium", "cozy-cilium"},
		{"ours", "NAME ?= echo\nNAMESPACE ?= tenant-root\ninclude ../../package.mk\n", "echo", "tenant-root"},
		{"braces, := and comments", "NAME := kube-ovn # the CNI\nNAMESPACE = cozy-${NAME}\n", "kube-ovn", "cozy-kube-ovn"},
		{"?= keeps the first", "NAME=a\nNAME ?= b\nNAMESPACE=x\n", "a", "x"},
		{"targets and recipes are not assignments", "NAME=a\nNAMESPACE=b\nshow:\n\tNAME=other helm template .\n", "a", "b"},
		{"nothing set", "include ../../package.mk\n", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			require.NoError(t, os.WriteFile(filepath.Join(dir, "Makefile"), []byte(tt.makefile), 0o644))
			name, ns, err := MakefileNames(dir)
			require.NoError(t, err)
			assert.Equal(t, tt.wantName, name)
			assert.Equal(t, tt.wantNS, ns)
		})
	}
	name, ns, err := MakefileNames(t.TempDir())
	require.NoError(t, err, "no Makefile is not an error")
	assert.Empty(t, name+ns)
}

// Names given in the environment win over the Makefile's.
func TestWithNamesPrefersGivenNames(t *testing.T) {
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "Makefile"), []byte("NAME=a\nNAMESPACE=b\n"), 0o644))
	o, err := Options{ChartDir: dir, Name: "given"}.withNames()
	require.NoError(t, err)
	assert.Equal(t, "given", o.Name)
	assert.Equal(t, "b", o.Namespace)
}
