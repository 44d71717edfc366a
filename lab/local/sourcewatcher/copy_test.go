package sourcewatcher

import (
	"testing"

	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// src is a small source tree shaped like a packages repository.
func src() Tree {
	return Tree{
		"apps/demo/Chart.yaml":             {Data: []byte("name: demo\n")},
		"apps/demo/values.yaml":            {Data: []byte("replicas: 1\nimage:\n  repo: demo\n  tag: v1\nports: [80, 443]\n")},
		"apps/demo/values-ha.yaml":         {Data: []byte("replicas: 3\nimage:\n  tag: v2\nports: [8080]\n")},
		"apps/demo/templates/deploy.yaml":  {Data: []byte("kind: Deployment\n")},
		"apps/demo/templates/NOTES.txt":    {Data: []byte("notes\n")},
		"apps/demo/hack/run.sh":            {Data: []byte("#!/bin/sh\n"), Executable: true},
		"apps/other/Chart.yaml":            {Data: []byte("name: other\n")},
		"library/cozy-lib/Chart.yaml":      {Data: []byte("name: cozy-lib\n")},
		"library/cozy-lib/templates/_h.tp": {Data: []byte("{{/* */}}\n")},
	}
}

func files(t Tree) map[string]string {
	out := map[string]string{}
	for name, f := range t {
		out[name] = string(f.Data)
	}
	return out
}

func TestBuild(t *testing.T) {
	tests := []struct {
		name string
		ops  []sw.CopyOperation
		want map[string]string
	}{
		{
			name: "directory glob copies the tree under the directory",
			ops:  []sw.CopyOperation{{From: "@src/apps/demo/templates/**", To: "@artifact/demo/templates/"}},
			want: map[string]string{
				"demo/templates/deploy.yaml": "kind: Deployment\n",
				"demo/templates/NOTES.txt":   "notes\n",
			},
		},
		{
			name: "single file to an exact path",
			ops:  []sw.CopyOperation{{From: "@src/apps/demo/Chart.yaml", To: "@artifact/x/Chart.yaml"}},
			want: map[string]string{"x/Chart.yaml": "name: demo\n"},
		},
		{
			name: "single file into a directory keeps its name",
			ops:  []sw.CopyOperation{{From: "@src/apps/demo/Chart.yaml", To: "@artifact/x/"}},
			want: map[string]string{"x/Chart.yaml": "name: demo\n"},
		},
		{
			name: "glob in the last segment",
			ops:  []sw.CopyOperation{{From: "@src/apps/*/Chart.yaml", To: "@artifact/charts/"}},
			want: map[string]string{"charts/demo/Chart.yaml": "name: demo\n", "charts/other/Chart.yaml": "name: other\n"},
		},
		{
			name: "later copies overwrite earlier files in order",
			ops: []sw.CopyOperation{
				{From: "@src/apps/demo/Chart.yaml", To: "@artifact/c/Chart.yaml"},
				{From: "@src/apps/other/Chart.yaml", To: "@artifact/c/Chart.yaml", Strategy: sw.OverwriteStrategy},
			},
			want: map[string]string{"c/Chart.yaml": "name: other\n"},
		},
		{
			name: "merge deep-merges maps, replaces lists and scalars",
			ops: []sw.CopyOperation{
				{From: "@src/apps/demo/values.yaml", To: "@artifact/demo/values.yaml", Strategy: sw.OverwriteStrategy},
				{From: "@src/apps/demo/values-ha.yaml", To: "@artifact/demo/values.yaml", Strategy: sw.MergeStrategy},
			},
			want: map[string]string{"demo/values.yaml": "replicas: 3\nimage:\n  repo: demo\n  tag: v2\nports: [8080]\n"},
		},
		{
			name: "merge onto nothing is a copy",
			ops:  []sw.CopyOperation{{From: "@src/apps/demo/values-ha.yaml", To: "@artifact/v.yaml", Strategy: sw.MergeStrategy}},
			want: map[string]string{"v.yaml": "replicas: 3\nimage:\n  tag: v2\nports: [8080]\n"},
		},
		{
			name: "exclude by relative path, directory and segment glob",
			ops: []sw.CopyOperation{{
				From: "@src/apps/demo/**", To: "@artifact/demo/",
				Exclude: []string{"hack", "*.txt", "values-*.yaml"},
			}},
			want: map[string]string{
				"demo/Chart.yaml":            "name: demo\n",
				"demo/values.yaml":           "replicas: 1\nimage:\n  repo: demo\n  tag: v1\nports: [80, 443]\n",
				"demo/templates/deploy.yaml": "kind: Deployment\n",
			},
		},
		{
			name: "literal directory is copied under its own name",
			ops:  []sw.CopyOperation{{From: "@src/library/cozy-lib", To: "@artifact/demo/charts/"}},
			want: map[string]string{
				"demo/charts/cozy-lib/Chart.yaml":      "name: cozy-lib\n",
				"demo/charts/cozy-lib/templates/_h.tp": "{{/* */}}\n",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Build(tt.ops, map[string]Tree{"src": src()})
			require.NoError(t, err)
			assert.Equal(t, tt.want, files(out))
		})
	}
}

func TestBuildKeepsExecutableBit(t *testing.T) {
	out, err := Build([]sw.CopyOperation{{From: "@src/apps/demo/hack/**", To: "@artifact/d/"}}, map[string]Tree{"src": src()})
	require.NoError(t, err)
	assert.True(t, out["d/run.sh"].Executable)
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		ops  []sw.CopyOperation
		want string
	}{
		{
			name: "from that matches nothing names the copy",
			ops: []sw.CopyOperation{
				{From: "@src/apps/demo/**", To: "@artifact/demo/"},
				{From: "@src/apps/demo/values-missing.yaml", To: "@artifact/demo/values.yaml", Strategy: sw.MergeStrategy},
			},
			want: `copy[1] from "@src/apps/demo/values-missing.yaml": matches no file`,
		},
		{
			name: "glob that matches nothing",
			ops:  []sw.CopyOperation{{From: "@src/nope/**", To: "@artifact/x/"}},
			want: `copy[0] from "@src/nope/**": matches no file`,
		},
		{
			name: "everything excluded",
			ops:  []sw.CopyOperation{{From: "@src/apps/demo/templates/**", To: "@artifact/x/", Exclude: []string{"**"}}},
			want: "matches no file",
		},
		{
			name: "from climbing out of the source",
			ops:  []sw.CopyOperation{{From: "@src/../etc/passwd", To: "@artifact/x"}},
			want: "leaves the source root",
		},
		{
			name: "to climbing out of the artifact",
			ops:  []sw.CopyOperation{{From: "@src/apps/demo/Chart.yaml", To: "@artifact/../../tmp/x"}},
			want: "leaves the artifact root",
		},
		{
			name: "to without @artifact",
			ops:  []sw.CopyOperation{{From: "@src/apps/demo/Chart.yaml", To: "/tmp/x"}},
			want: "must look like @artifact/<path>",
		},
		{
			name: "unknown alias",
			ops:  []sw.CopyOperation{{From: "@nope/x", To: "@artifact/x"}},
			want: `unknown source alias "nope"`,
		},
		{
			name: "unknown strategy",
			ops:  []sw.CopyOperation{{From: "@src/apps/demo/Chart.yaml", To: "@artifact/x", Strategy: "Append"}},
			want: `unknown strategy "Append"`,
		},
		{
			name: "merge of a non-YAML file",
			ops: []sw.CopyOperation{
				{From: "@src/apps/demo/templates/NOTES.txt", To: "@artifact/n.txt"},
				{From: "@src/apps/demo/templates/NOTES.txt", To: "@artifact/n.txt", Strategy: sw.MergeStrategy},
			},
			want: "the Merge strategy needs YAML files",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Build(tt.ops, map[string]Tree{"src": src()})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestMergeYAMLNested(t *testing.T) {
	dst := []byte("# base\na:\n  b:\n    c: 1\n    d: [1, 2]\n  e: keep\nz: 0\n")
	src := []byte("a:\n  b:\n    c: 2\n    d: [3]\n    n: new\nx: added\n")
	got, err := mergeYAML(dst, src)
	require.NoError(t, err)
	assert.Equal(t, "# base\na:\n  b:\n    c: 2\n    d: [3]\n    n: new\n  e: keep\nz: 0\nx: added\n", string(got))
}

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"a/**", "a/b/c", true},
		{"a/**", "a", true},
		{"**/*.yaml", "x/y/z.yaml", true},
		{"**/*.yaml", "z.yaml", true},
		{"a/*/c", "a/b/c", true},
		{"a/*", "a/b/c", false},
		{"a/**/c", "a/c", true},
		{"a/**/c", "a/x/y/c", true},
		{"b/**", "a/b/c", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, match(tt.pattern, tt.name), "match(%q, %q)", tt.pattern, tt.name)
	}
}
