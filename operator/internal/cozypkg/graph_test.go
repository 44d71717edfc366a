package cozypkg

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

func TestTopoOrder(t *testing.T) {
	tests := []struct {
		name  string
		graph Graph
		want  []string
		cycle []string
	}{
		{name: "empty", graph: Graph{}, want: nil},
		{name: "single", graph: Graph{"a": nil}, want: []string{"a"}},
		{name: "chain", graph: Graph{"c": {"b"}, "b": {"a"}}, want: []string{"a", "b", "c"}},
		{
			name:  "diamond, ties by name",
			graph: Graph{"top": {"right", "left"}, "left": {"base"}, "right": {"base"}},
			want:  []string{"base", "left", "right", "top"},
		},
		{
			name:  "a dependent becomes ready after an earlier-named leaf",
			graph: Graph{"b": {"z"}, "a": nil, "y": nil},
			want:  []string{"a", "y", "z", "b"},
		},
		{name: "duplicate dependencies count once", graph: Graph{"b": {"a", "a"}}, want: []string{"a", "b"}},
		{name: "self dependency", graph: Graph{"a": {"a"}}, cycle: []string{"a"}},
		{
			name:  "cycle names only its members, not what depends on it",
			graph: Graph{"x": {"y"}, "y": {"z"}, "z": {"x"}, "app": {"x"}, "leaf": nil},
			cycle: []string{"x", "y", "z"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TopoOrder(tt.graph)
			if tt.cycle != nil {
				var ce *CycleError
				require.ErrorAs(t, err, &ce)
				assert.Equal(t, tt.cycle, ce.Nodes)
				assert.Contains(t, err.Error(), "dependency cycle detected")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestTopoOrderIsStable(t *testing.T) {
	g := Graph{"e": {"a", "b"}, "d": {"c"}, "c": nil, "b": nil, "a": nil}
	first, err := TopoOrder(g)
	require.NoError(t, err)
	for range 20 {
		again, err := TopoOrder(g)
		require.NoError(t, err)
		require.Equal(t, first, again)
	}
	assert.Equal(t, []string{"a", "b", "c", "d", "e"}, first)
}

func TestDependents(t *testing.T) {
	g := Graph{"b": {"a"}, "c": {"b"}, "d": {"a", "x"}, "e": nil, "x": nil}
	tests := []struct {
		roots []string
		want  []string
	}{
		{roots: []string{"a"}, want: []string{"a", "b", "c", "d"}},
		{roots: []string{"b"}, want: []string{"b", "c"}},
		{roots: []string{"x", "e"}, want: []string{"d", "e", "x"}},
		{roots: []string{"c"}, want: []string{"c"}},
		{roots: nil, want: []string{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, Dependents(g, tt.roots), "roots %v", tt.roots)
	}
	cyclic := Graph{"a": {"b"}, "b": {"a"}}
	assert.Equal(t, []string{"a", "b"}, Dependents(cyclic, []string{"a"}), "a cycle terminates")
}

func source(name string, variants ...v1alpha1.Variant) v1alpha1.PackageSource {
	return v1alpha1.PackageSource{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.PackageSourceSpec{Variants: variants}}
}

func variant(name string, deps ...string) v1alpha1.Variant {
	return v1alpha1.Variant{Name: name, DependsOn: deps}
}

func TestDependencyTreeWalksEveryVariant(t *testing.T) {
	items := []v1alpha1.PackageSource{
		source("app", variant("small", "db"), variant("ha", "db", "lb")),
		source("db", variant("default", "storage")),
		source("lb", variant("default")),
		source("unrelated", variant("default", "app")),
	}
	g, requesters := dependencyTree(sourceMap(items), "app")
	assert.Equal(t, Graph{"app": {"db", "lb"}, "db": {"storage"}, "lb": nil, "storage": nil}, g,
		"storage has no PackageSource: a leaf; unrelated is not reached")
	assert.Equal(t, map[string]string{"db": "app", "lb": "app", "storage": "db"}, requesters)
	order, err := TopoOrder(g)
	require.NoError(t, err)
	assert.Equal(t, []string{"lb", "storage", "db", "app"}, order)
}

func TestInstalledGraph(t *testing.T) {
	items := []v1alpha1.PackageSource{
		source("app", variant("a", "db"), variant("b", "cache")),
		source("db", variant("default")),
		source("cache", variant("default")),
	}
	installed := packageMap([]v1alpha1.Package{
		{ObjectMeta: metav1.ObjectMeta{Name: "app"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "db"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "orphan"}},
	})
	g := installedGraph(sourceMap(items), installed)
	assert.Equal(t, Graph{"app": {"db"}, "db": nil, "orphan": nil}, g, "cache is not installed; orphan has no source")
	assert.Equal(t, Graph{"app": nil}, g.restrict([]string{"app"}))
}
