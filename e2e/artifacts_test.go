package e2e

import (
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
	va := chartVersion.FindStringSubmatch(string(a[platformChart].Data))[1]
	assert.Regexp(t, `^0\.1\.0\+lab\.[0-9a-f]{12}$`, va)
	assert.Equal(t, va, chartVersion.FindStringSubmatch(string(b[platformChart].Data))[1], "same tree, same version")
	assert.NotEqual(t, va, chartVersion.FindStringSubmatch(string(c[platformChart].Data))[1], "a changed package changes the platform version")
	assert.Contains(t, string(a[platformChart].Data), "appVersion: \"0.1.0\"\n", "the rest of Chart.yaml is kept")

	require.ErrorContains(t, stampPlatform(fstest.MapFS{}), "core/platform/Chart.yaml is missing")
}
