package release

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tree copies the files Prepare stamps from this repository into a temporary root.
func tree(t *testing.T) string {
	root := t.TempDir()
	for _, s := range stamps {
		data, err := os.ReadFile(filepath.Join("..", "..", s.path))
		require.NoError(t, err)
		require.NoError(t, os.MkdirAll(filepath.Join(root, filepath.Dir(s.path)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, s.path), data, 0o644))
	}
	return root
}

func read(t *testing.T, root, path string) string {
	data, err := os.ReadFile(filepath.Join(root, path))
	require.NoError(t, err)
	return string(data)
}

func TestPrepareStampsEveryPlace(t *testing.T) {
	root := tree(t)
	before := read(t, root, "packages/core/platform/Chart.yaml")
	stamped, err := Prepare(root, "v3.4.5")
	require.NoError(t, err)
	assert.Len(t, stamped, len(stamps)+1)
	for _, path := range []string{"packages/core/installer/Chart.yaml", "packages/core/platform/Chart.yaml"} {
		chart := read(t, root, path)
		assert.Contains(t, chart, "\nversion: 3.4.5\n", path)
		assert.Contains(t, chart, "\nappVersion: \"3.4.5\"\n", path)
	}
	assert.Contains(t, read(t, root, "operator/version/version.go"), "const Version = \"v3.4.5\"\n")
	rec, err := Load(root)
	require.NoError(t, err)
	assert.Equal(t, "v3.4.5", rec.Version)
	// Only the version lines change.
	after := read(t, root, "packages/core/platform/Chart.yaml")
	versionLines := regexp.MustCompile(`(?m)^(version|appVersion): .*\n`)
	assert.Equal(t, versionLines.ReplaceAllString(before, ""), versionLines.ReplaceAllString(after, ""), "only the version lines changed")

	_, err = Prepare(root, "v3.4.5")
	assert.EqualError(t, err, "release v3.4.5 is not newer than the last release v3.4.5 (release.json)")
	_, err = Prepare(root, "v3.0.0")
	assert.ErrorContains(t, err, "not newer")
	_, err = Prepare(root, "3.5.0")
	assert.ErrorContains(t, err, `version "3.5.0": want v and a semantic version`)
	_, err = Prepare(root, "v3.5")
	assert.ErrorContains(t, err, "want v and a semantic version")
}

func TestPrepareChangesNothingWhenAPlaceIsMissing(t *testing.T) {
	root := tree(t)
	require.NoError(t, os.WriteFile(filepath.Join(root, "operator/version/version.go"), []byte("package version\n"), 0o644))
	chart := read(t, root, "packages/core/installer/Chart.yaml")
	_, err := Prepare(root, "v9.0.0")
	assert.ErrorContains(t, err, "operator/version/version.go has no line matching")
	assert.Equal(t, chart, read(t, root, "packages/core/installer/Chart.yaml"), "nothing written")
	assert.NoFileExists(t, filepath.Join(root, File))
}
