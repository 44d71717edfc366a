package packageloop

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const echoLikeValues = `## @section Echo server

## @param image.repository Image of the echo server
## @param image.tag Tag of the echo server image
image:
  repository: ghcr.io/cozylab/echo # the upstream name
  tag: "0.1.0"
  digest: ""

## @param replicas Number of echo server replicas
replicas: 1

resources:
  requests:
    cpu: 10m
`

func TestSetStrings(t *testing.T) {
	digest := "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	for _, tc := range []struct {
		name   string
		in     string
		values []stringValue
		want   string
	}{{
		name: "single image: only the two scalars change, quoting kept",
		in:   echoLikeValues,
		values: []stringValue{
			{Path: valuePath{"image", "tag"}, Value: "sha-0123456789ab"},
			{Path: valuePath{"image", "digest"}, Value: digest},
		},
		want: `## @section Echo server

## @param image.repository Image of the echo server
## @param image.tag Tag of the echo server image
image:
  repository: ghcr.io/cozylab/echo # the upstream name
  tag: "sha-0123456789ab"
  digest: "` + digest + `"

## @param replicas Number of echo server replicas
replicas: 1

resources:
  requests:
    cpu: 10m
`,
	}, {
		name: "several images, missing keys appended after the last entry of their mapping",
		in: `images:
  # the API server
  api:
    repository: ghcr.io/cozylab/api
  # the worker
  worker:
    repository: 'quay.io/x/worker'   # rewritten
    tag: 'old'
    pullPolicy: IfNotPresent

# trailing comment
other: true
`,
		values: []stringValue{
			{Path: valuePath{"images", "api", "tag"}, Value: "sha-aaaaaaaaaaaa"},
			{Path: valuePath{"images", "api", "digest"}, Value: digest},
			{Path: valuePath{"images", "worker", "repository"}, Value: "127.0.0.1:5000/x/worker"},
			{Path: valuePath{"images", "worker", "tag"}, Value: "sha-bbbbbbbbbbbb"},
			{Path: valuePath{"images", "worker", "digest"}, Value: digest},
		},
		want: `images:
  # the API server
  api:
    repository: ghcr.io/cozylab/api
    tag: sha-aaaaaaaaaaaa
    digest: ` + digest + `
  # the worker
  worker:
    repository: '127.0.0.1:5000/x/worker'   # rewritten
    tag: 'sha-bbbbbbbbbbbb'
    pullPolicy: IfNotPresent
    digest: ` + digest + `

# trailing comment
other: true
`,
	}, {
		name: "empty and null values",
		in:   "image:\n  repository: r\n  tag:\n  digest: ~\t# none yet\n",
		values: []stringValue{
			{Path: valuePath{"image", "tag"}, Value: "sha-1"},
			{Path: valuePath{"image", "digest"}, Value: digest},
		},
		want: "image:\n  repository: r\n  tag: sha-1\n  digest: " + digest + "\t# none yet\n",
	}, {
		name:   "a value that needs quotes gets them",
		in:     "image:\n  tag: x\n",
		values: []stringValue{{Path: valuePath{"image", "tag"}, Value: "1.0"}},
		want:   "image:\n  tag: \"1.0\"\n",
	}, {
		name:   "no newline at the end of the file",
		in:     "image:\n  repository: r",
		values: []stringValue{{Path: valuePath{"image", "tag"}, Value: "t"}},
		want:   "image:\n  repository: r\n  tag: t\n",
	}, {
		name:   "top-level keys",
		in:     "a: 1 # one\nlist:\n  - x\n",
		values: []stringValue{{Path: valuePath{"a"}, Value: "x"}, {Path: valuePath{"b"}, Value: "y"}},
		want:   "a: x # one\nlist:\n  - x\nb: \"y\"\n",
	}, {
		name:   "non-ASCII text before the value on its line",
		in:     "image: {}\nnote: \"héllo\" # café\nimg:\n  tag: \"é\"\n",
		values: []stringValue{{Path: valuePath{"img", "tag"}, Value: "ü"}},
		want:   "image: {}\nnote: \"héllo\" # café\nimg:\n  tag: \"ü\"\n",
	}} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := setStrings([]byte(tc.in), tc.values)
			require.NoError(t, err)
			assert.Equal(t, tc.want, string(got))

			again, err := setStrings(got, tc.values)
			require.NoError(t, err)
			assert.Equal(t, string(got), string(again), "setting the same values again changes nothing")
		})
	}
}

func TestSetStringsLeavesEchoValuesByteIdentical(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "packages", "system", "echo", "values.yaml"))
	require.NoError(t, err)
	tag, found, err := lookupString(data, valuePath{"image", "tag"})
	require.NoError(t, err)
	require.True(t, found, "packages/system/echo/values.yaml has image.tag")
	digest, _, err := lookupString(data, valuePath{"image", "digest"})
	require.NoError(t, err)
	got, err := setStrings(data, []stringValue{
		{Path: valuePath{"image", "tag"}, Value: tag},
		{Path: valuePath{"image", "digest"}, Value: digest},
	})
	require.NoError(t, err)
	assert.Equal(t, string(data), string(got))
}

func TestSetStringsRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		path     valuePath
		wantErr  string
	}{
		{"flow mapping", "image: {repository: r}\n", valuePath{"image", "tag"}, "flow style"},
		{"flow value", "image: {repository: r, tag: t}\n", valuePath{"image", "tag"}, "one-line string"},
		{"block scalar", "image:\n  tag: |\n    x\n", valuePath{"image", "tag"}, "block scalar"},
		{"mapping ends in a block scalar", "image:\n  note: |\n    x\n", valuePath{"image", "tag"}, "block scalar"},
		{"not a scalar", "image:\n  tag: [a]\n", valuePath{"image", "tag"}, "want a string scalar"},
		{"parent missing", "replicas: 1\n", valuePath{"image", "tag"}, "no mapping image"},
		{"parent not a mapping", "image: x\n", valuePath{"image", "tag"}, "want a mapping"},
		{"multi-line plain value", "image:\n  tag: a\n    b\n", valuePath{"image", "tag"}, "one-line string"},
		{"not YAML", "image: [\n", valuePath{"image", "tag"}, "parse values file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := setStrings([]byte(tc.in), []stringValue{{Path: tc.path, Value: "new"}})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
			assert.Contains(t, err.Error(), "set "+tc.path.String())
		})
	}
}

func TestLookupString(t *testing.T) {
	data := []byte("image:\n  repository: ghcr.io/cozylab/echo\n  tag: 1\n  digest:\nempty:\n")
	v, found, err := lookupString(data, valuePath{"image", "repository"})
	require.NoError(t, err)
	assert.True(t, found)
	assert.Equal(t, "ghcr.io/cozylab/echo", v)

	for _, p := range []valuePath{{"image", "digest"}, {"image", "absent"}, {"empty", "x"}, {"absent", "x"}} {
		_, found, err = lookupString(data, p)
		require.NoError(t, err, p.String())
		assert.False(t, found, p.String())
	}
	_, _, err = lookupString(data, valuePath{"image", "tag"})
	assert.ErrorContains(t, err, "image.tag at line 3: want a string, found a scalar of type int: quote it")
}
