package e2e

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStampPlatformFollowsTheRestOfTheTree(t *testing.T) {
	tree := func(extra string) fstest.MapFS {
		return fstest.MapFS{
			platformChart:             {Data: []byte("apiVersion: v2\nname: cozy-platform\nversion: 0.1.0\nappVersion: \"0.1.0\"\n")},
			"system/echo/values.yaml": {Data: []byte("replicas: 1\n" + extra)},
		}
	}
	a, b, c := tree(""), tree(""), tree("image: x\n")
	for _, fs := range []fstest.MapFS{a, b, c} {
		require.NoError(t, stampPlatform(fs))
	}
	version := func(fs fstest.MapFS) string {
		v, ok := findVersion(fs[platformChart].Data)
		require.True(t, ok)
		return v.value
	}
	va := version(a)
	assert.Regexp(t, `^0\.1\.0\+lab\.[0-9a-f]{12}$`, va)
	assert.Equal(t, va, version(b), "same tree, same version")
	assert.NotEqual(t, va, version(c), "a changed package changes the platform version")
	assert.Contains(t, string(a[platformChart].Data), "appVersion: \"0.1.0\"\n", "the rest of Chart.yaml is kept")

	require.ErrorContains(t, stampPlatform(fstest.MapFS{}), "core/platform/Chart.yaml is missing")
}

// Version lines as platform trees write them: quoted, commented, with build metadata.
func TestStampPlatformAcceptsQuotesAndComments(t *testing.T) {
	for _, tt := range []struct{ line, want string }{
		{"version: 0.0.0 # set by the release", `^version: 0\.0\.0\+lab\.[0-9a-f]{12} # set by the release$`},
		{`version: "1.2.3"`, `^version: 1\.2\.3\+lab\.[0-9a-f]{12}$`},
		{`version: '1.2.3'  # quoted`, `^version: 1\.2\.3\+lab\.[0-9a-f]{12} # quoted$`},
		{"version: 1.0.0+build.7", `^version: 1\.0\.0\+build\.7\.lab\.[0-9a-f]{12}$`},
	} {
		tree := fstest.MapFS{platformChart: {Data: []byte("apiVersion: v2\nname: p\n" + tt.line + "\ntype: application\n")}}
		require.NoError(t, stampPlatform(tree), tt.line)
		lines := strings.Split(string(tree[platformChart].Data), "\n")
		assert.Regexp(t, tt.want, lines[2], tt.line)
		assert.Equal(t, "type: application", lines[3], "the rest of Chart.yaml is kept")
	}
	err := stampPlatform(fstest.MapFS{platformChart: {Data: []byte("name: p\nappVersion: 1\n")}})
	require.ErrorContains(t, err, "has no version line")
}

// A tree is read as `flux push artifact` packs it: symlinks (to library chart directories or
// files) are left out, .sourceignore files are honoured at any depth, .git is never packed.
func TestPackagesTreeReadsLikeFluxPushArtifact(t *testing.T) {
	dir := t.TempDir()
	write := func(rel, data string) {
		p := filepath.Join(dir, rel)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	write(platformChart, "name: cozy-platform\nversion: 0.0.0 # a comment\n")
	write("library/cozy-lib/Chart.yaml", "name: cozy-lib\n")
	write("apps/app/Chart.yaml", "name: app\n")
	write("apps/app/values.yaml", "a: 1\n")
	write("apps/app/notes.tmp", "scratch\n")
	write("apps/app/.sourceignore", "*.tmp\n")
	write(".sourceignore", "# tests\n*.go\nhack/\n")
	write("hack/script.sh", "echo\n")
	write("packages_test.go", "package packages\n")
	write(".git/HEAD", "ref: main\n")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "apps/app/charts"), 0o755))
	require.NoError(t, os.Symlink("../../../library/cozy-lib", filepath.Join(dir, "apps/app/charts/cozy-lib")))
	require.NoError(t, os.Symlink("values.yaml", filepath.Join(dir, "apps/app/values-link.yaml")))

	tree, err := packagesTree(dir, map[string][]byte{"apps/extra/Chart.yaml": []byte("name: extra\n")})
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{
		platformChart, "library/cozy-lib/Chart.yaml", "apps/app/Chart.yaml", "apps/app/values.yaml",
		"apps/app/.sourceignore", ".sourceignore", "apps/extra/Chart.yaml",
	}, slices.Collect(maps.Keys(tree)))
}
