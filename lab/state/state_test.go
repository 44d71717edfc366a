package state

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type facts struct {
	Registry string `json:"registry"`
	Ports    []int  `json:"ports"`
}

func TestRequestStepsAndFactsSurviveReopen(t *testing.T) {
	root := t.TempDir()
	req := Request{Name: "dev", Provider: "qemu", RepoRoot: "/src", QEMU: &QEMURequest{NodeImage: "twin", KVM: false, MemoryMiB: 2048, CPUs: 2}}
	s, err := Create(root, req)
	require.NoError(t, err)
	assert.True(t, s.Exists())
	require.NoError(t, s.MarkDone("control-plane"))
	require.NoError(t, UpdateFacts(s, func(f *facts) { f.Registry = "127.0.0.1:5000" }))
	require.NoError(t, UpdateFacts(s, func(f *facts) { f.Ports = []int{1, 2} }))
	fi, err := os.Stat(filepath.Join(root, "dev", FileName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again, err := Open(root, "dev")
	require.NoError(t, err)
	assert.Equal(t, req, again.Request(), "the request is read back typed")
	assert.True(t, again.Done("control-plane"))
	assert.False(t, again.Done("flux"))
	got, err := LoadFacts[facts](again)
	require.NoError(t, err)
	assert.Equal(t, facts{Registry: "127.0.0.1:5000", Ports: []int{1, 2}}, got)
	require.NoError(t, again.Undo("control-plane"))
	assert.False(t, again.Done("control-plane"))

	names, err := List(root)
	require.NoError(t, err)
	assert.Equal(t, []string{"dev"}, names)
	require.NoError(t, again.Remove())
	assert.NoDirExists(t, filepath.Join(root, "dev"))
}

func TestOpenOfANewLabSavesNothing(t *testing.T) {
	s, err := Open(t.TempDir(), "new")
	require.NoError(t, err)
	assert.False(t, s.Exists())
	assert.Equal(t, "new", s.Request().Name)
	f, err := LoadFacts[facts](s)
	require.NoError(t, err)
	assert.Zero(t, f)
}

func TestCreateRefusesOtherProviderAndOpenOtherVersion(t *testing.T) {
	root := t.TempDir()
	_, err := Create(root, Request{Name: "lab1", Provider: "qemu"})
	require.NoError(t, err)
	_, err = Create(root, Request{Name: "lab1", Provider: "local"})
	require.ErrorContains(t, err, "lab lab1 exists with provider qemu, not local: run `LAB_NAME=lab1 go run mage.go lab:down` first")

	require.NoError(t, os.WriteFile(filepath.Join(root, "lab1", FileName), []byte(`{"version":1,"name":"lab1","values":{"a":"b"}}`), 0o600))
	_, err = Open(root, "lab1")
	require.ErrorContains(t, err, "state version 1, this cozylab reads 2")

	require.NoError(t, os.WriteFile(filepath.Join(root, "lab1", FileName), []byte(`{`), 0o600))
	_, err = Open(root, "lab1")
	require.ErrorContains(t, err, "remove the directory")
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"a", "dev", "lab-1", "x1y2"} {
		assert.NoError(t, ValidateName(ok), ok)
	}
	for _, bad := range []string{"", "Dev", "-a", "a-", "a_b", "a.b", "abcdefghijabcdefghijabcdefghijabc"} {
		assert.Error(t, ValidateName(bad), bad)
	}
}

func TestRootHonoursXDG(t *testing.T) {
	t.Setenv("XDG_STATE_HOME", "/s")
	r, err := Root()
	require.NoError(t, err)
	assert.Equal(t, "/s/cozylab/labs", r)
}
