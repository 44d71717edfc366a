package cozypkg

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

func component(name string, deps ...string) v1alpha1.Component {
	return v1alpha1.Component{Name: name, Path: name, Install: &v1alpha1.ComponentInstall{Namespace: "ns", DependsOn: deps}}
}

func variantWith(name string, deps []string, components ...v1alpha1.Component) v1alpha1.Variant {
	return v1alpha1.Variant{Name: name, DependsOn: deps, Components: components}
}

// dotFixture covers every drawing rule: package edges in all or some variants, a missing
// package, local and dotted component dependencies that exist or not, components in some
// variants only, and a component without install (not drawn).
func dotFixture() []v1alpha1.PackageSource {
	return []v1alpha1.PackageSource{
		source("cozystack.app",
			variantWith("small", []string{"cozystack.storage"},
				component("app", "cozystack.storage.linstor")),
			variantWith("ha", []string{"cozystack.storage", "cozystack.monitoring"},
				component("app", "cache"), component("cache"))),
		source("cozystack.networking",
			variantWith("cilium", nil,
				component("cilium"), component("cilium-networkpolicy", "cilium"),
				v1alpha1.Component{Name: "docs", Path: "docs"}),
			variantWith("kubeovn", nil,
				component("kubeovn"), component("ovn-webhook", "kubeovn", "ghost"))),
		source("cozystack.storage",
			variantWith("default", []string{"cozystack.networking"},
				component("linstor", "cozystack.networking.cilium"),
				component("snapshots", "cozystack.gone.controller"))),
	}
}

func TestDotGolden(t *testing.T) {
	installed := map[string]bool{"cozystack.app": true, "cozystack.storage": true}
	tests := []struct {
		golden string
		in     diagramInput
	}{
		{golden: "dot_packages.golden", in: diagramInput{}},
		{golden: "dot_components.golden", in: diagramInput{components: true}},
		{golden: "dot_installed.golden", in: diagramInput{installed: installed}},
		{golden: "dot_selected_components.golden", in: diagramInput{selected: map[string]bool{"cozystack.app": true}, components: true}},
	}
	for _, tt := range tests {
		t.Run(tt.golden, func(t *testing.T) {
			tt.in.sources = dotFixture()
			var out bytes.Buffer
			require.NoError(t, buildDiagram(tt.in).write(&out))
			assertValidDOT(t, out.String())

			path := filepath.Join("testdata", tt.golden)
			if *update {
				require.NoError(t, os.WriteFile(path, out.Bytes(), 0o644))
			}
			want, err := os.ReadFile(path)
			require.NoError(t, err, "run go test ./operator/internal/cozypkg -run TestDotGolden -update")
			assert.Equal(t, string(want), out.String())

			reversed := dotFixture()
			slices.Reverse(reversed)
			for i := range reversed {
				slices.Reverse(reversed[i].Spec.Variants)
			}
			tt.in.sources = reversed
			var again bytes.Buffer
			require.NoError(t, buildDiagram(tt.in).write(&again))
			assert.Equal(t, out.String(), again.String(), "the order of sources and variants does not change the output")
		})
	}
}

func TestResolveComponent(t *testing.T) {
	b := &builder{packages: map[string]bool{"cozystack": true, "cozystack.networking": true}}
	tests := []struct{ dep, id, pkg, label string }{
		{dep: "cilium", id: "cozystack.app.cilium", pkg: "cozystack.app", label: "cilium"},
		{dep: "cozystack.networking.cilium", id: "cozystack.networking.cilium", pkg: "cozystack.networking", label: "cilium"},
		{dep: "cozystack.other", id: "cozystack.other", pkg: "cozystack", label: "other"},
		{dep: "unknown.pkg.comp", id: "unknown.pkg.comp", pkg: "unknown.pkg", label: "comp"},
	}
	for _, tt := range tests {
		id, pkg, label := b.resolveComponent("cozystack.app", tt.dep)
		assert.Equal(t, []string{tt.id, tt.pkg, tt.label}, []string{id, pkg, label}, tt.dep)
	}
}

func TestQuote(t *testing.T) {
	assert.Equal(t, `"plain"`, quote("plain"))
	assert.Equal(t, `"say \"hi\""`, quote(`say "hi"`))
	assert.Equal(t, `"back\\slash"`, quote(`back\slash`))
	assert.Equal(t, `"two\nlines"`, quote("two\nlines\r"))

	d := newDiagram()
	d.node(`we"ird`, `we"ird`, packageNode, false)
	d.node(`x\`, `x\`, packageNode, true)
	d.edge(`we"ird`, `x\`)
	var out bytes.Buffer
	require.NoError(t, d.write(&out))
	assertValidDOT(t, out.String())
	assert.Contains(t, out.String(), `"we\"ird" -> "x\\" [color="red", style="dashed"];`)
}

// dotID is a DOT double-quoted string; dotAttrs a bracketed list of name="value" pairs.
const (
	dotID    = `"(?:[^"\\]|\\.)*"`
	dotAttrs = `\[\w+=` + dotID + `(?:, \w+=` + dotID + `)*\]`
)

var (
	dotNodeLine = regexp.MustCompile(`^\t(` + dotID + `) ` + dotAttrs + `;$`)
	dotEdgeLine = regexp.MustCompile(`^\t(` + dotID + `) -> (` + dotID + `) ` + dotAttrs + `;$`)
	dotHeader   = regexp.MustCompile(`^\tgraph ` + dotAttrs + `;$`)
)

// assertValidDOT checks the output against the subset of the DOT grammar the writer uses
// (Graphviz's dot is not installed here): a digraph of node and edge statements whose IDs are
// all quoted, and whose edge ends are all declared as nodes (so each one is styled).
func assertValidDOT(t *testing.T, out string) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	require.GreaterOrEqual(t, len(lines), 3)
	require.Equal(t, "digraph {", lines[0])
	require.Equal(t, "}", lines[len(lines)-1])
	require.Regexp(t, dotHeader, lines[1])
	nodes := map[string]bool{}
	for _, line := range lines[2 : len(lines)-1] {
		if m := dotNodeLine.FindStringSubmatch(line); m != nil {
			require.False(t, nodes[m[1]], "node %s declared twice", m[1])
			nodes[m[1]] = true
			continue
		}
		m := dotEdgeLine.FindStringSubmatch(line)
		require.NotNil(t, m, "not a node or edge statement: %q", line)
		require.True(t, nodes[m[1]] && nodes[m[2]], "edge %q between undeclared nodes", line)
	}
}
