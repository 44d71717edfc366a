package state

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStepsAndValuesSurviveReopen(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, "dev", "local")
	require.NoError(t, err)
	assert.False(t, s.Exists())
	require.NoError(t, s.MarkDone("control-plane"))
	require.NoError(t, s.Set(map[string]string{"apiserver": "https://127.0.0.1:6443"}))
	fi, err := os.Stat(filepath.Join(root, "dev", FileName))
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	again, err := Open(root, "dev", "")
	require.NoError(t, err)
	assert.True(t, again.Done("control-plane"))
	assert.False(t, again.Done("flux"))
	assert.Equal(t, "https://127.0.0.1:6443", again.Value("apiserver"))
	assert.Equal(t, "local", again.Lab().Provider)
	require.NoError(t, again.Undo("control-plane"))
	assert.False(t, again.Done("control-plane"))

	names, err := List(root)
	require.NoError(t, err)
	assert.Equal(t, []string{"dev"}, names)
	require.NoError(t, again.Remove())
	assert.NoDirExists(t, filepath.Join(root, "dev"))
}

func TestOpenRefusesOtherProviderAndVersion(t *testing.T) {
	root := t.TempDir()
	s, err := Open(root, "lab1", "qemu")
	require.NoError(t, err)
	require.NoError(t, s.MarkDone("x"))
	_, err = Open(root, "lab1", "local")
	require.ErrorContains(t, err, "lab lab1 exists with provider qemu, not local: run `LAB_NAME=lab1 go run mage.go lab:down` first")

	require.NoError(t, os.WriteFile(filepath.Join(root, "lab1", FileName), []byte(`{"version":99,"name":"lab1"}`), 0o600))
	_, err = Open(root, "lab1", "")
	require.ErrorContains(t, err, "state version 99")

	require.NoError(t, os.WriteFile(filepath.Join(root, "lab1", FileName), []byte(`{`), 0o600))
	_, err = Open(root, "lab1", "")
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
