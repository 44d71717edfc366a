package cozypkg

import (
	"slices"
	"sort"
	"strings"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Graph maps a package to the packages it depends on. A dependency need not be a key.
type Graph map[string][]string

// CycleError reports packages whose dependencies form a cycle, so no order can install (or
// delete) them one after another.
type CycleError struct {
	// Nodes are the packages on a cycle or on a path between cycles, sorted.
	Nodes []string
}

// Error names the packages on the cycle.
func (e *CycleError) Error() string {
	return "dependency cycle detected: " + strings.Join(e.Nodes, ", ")
}

// nodes returns every key and every dependency of g, sorted.
func (g Graph) nodes() []string {
	set := map[string]bool{}
	for n, deps := range g {
		set[n] = true
		for _, d := range deps {
			set[d] = true
		}
	}
	return sortedKeys(set)
}

// TopoOrder returns every node of g with dependencies before their dependents (Kahn's
// algorithm). Among nodes ready at the same time the smallest name comes first, so the order
// is stable. A cycle is a *CycleError.
func TopoOrder(g Graph) ([]string, error) {
	pending := map[string]int{}
	dependents := map[string][]string{}
	for _, n := range g.nodes() {
		pending[n] = 0
	}
	for n, deps := range g {
		for _, d := range uniqueSorted(deps) {
			pending[n]++
			dependents[d] = append(dependents[d], n)
		}
	}
	var ready, order []string
	for n, count := range pending {
		if count == 0 {
			ready = append(ready, n)
		}
	}
	for len(ready) > 0 {
		sort.Strings(ready)
		n := ready[0]
		ready = ready[1:]
		order = append(order, n)
		delete(pending, n)
		for _, dependent := range dependents[n] {
			pending[dependent]--
			if pending[dependent] == 0 {
				ready = append(ready, dependent)
			}
		}
	}
	if len(pending) > 0 {
		return nil, &CycleError{Nodes: cycleNodes(g, pending)}
	}
	return order, nil
}

// cycleNodes narrows the nodes Kahn's algorithm could not order down to those on a cycle: it
// drops, repeatedly, every left-over node no other left-over node depends on (those only
// depend on a cycle).
func cycleNodes(g Graph, left map[string]int) []string {
	set := map[string]bool{}
	for n := range left {
		set[n] = true
	}
	for changed := true; changed; {
		changed = false
		needed := map[string]bool{}
		for n := range set {
			for _, d := range g[n] {
				if set[d] {
					needed[d] = true
				}
			}
		}
		for n := range set {
			if !needed[n] {
				delete(set, n)
				changed = true
			}
		}
	}
	return sortedKeys(set)
}

// Dependents returns roots and every node of g that depends on one of them, directly or
// transitively, sorted.
func Dependents(g Graph, roots []string) []string {
	reverse := map[string][]string{}
	for n, deps := range g {
		for _, d := range deps {
			reverse[d] = append(reverse[d], n)
		}
	}
	seen := map[string]bool{}
	queue := slices.Clone(roots)
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		if seen[n] {
			continue
		}
		seen[n] = true
		queue = append(queue, reverse[n]...)
	}
	return sortedKeys(seen)
}

// variantDeps is the union of dependsOn over every variant of ps, sorted: a package may be
// installed with any variant, so each variant's dependencies count.
func variantDeps(ps *v1alpha1.PackageSource) []string {
	var deps []string
	for _, v := range ps.Spec.Variants {
		deps = append(deps, v.DependsOn...)
	}
	return uniqueSorted(deps)
}

// dependencyTree walks variantDeps from root through sources. It returns the graph of every
// package reached and, for each dependency, the first package (by name) that asked for it.
// Dependencies without a PackageSource are leaves: the caller reports them when it needs their
// variants.
func dependencyTree(sources map[string]*v1alpha1.PackageSource, root string) (Graph, map[string]string) {
	g := Graph{root: nil}
	requesters := map[string]string{}
	queue := []string{root}
	for len(queue) > 0 {
		n := queue[0]
		queue = queue[1:]
		ps, ok := sources[n]
		if !ok {
			continue
		}
		deps := variantDeps(ps)
		g[n] = deps
		for _, d := range deps {
			if r, ok := requesters[d]; !ok || n < r {
				requesters[d] = n
			}
			if _, walked := g[d]; !walked {
				g[d] = nil
				queue = append(queue, d)
			}
		}
	}
	return g, requesters
}

// installedGraph is the dependency graph among installed packages: an edge for each
// dependsOn (of any variant) of an installed package's PackageSource that is itself installed.
func installedGraph(sources map[string]*v1alpha1.PackageSource, installed map[string]*v1alpha1.Package) Graph {
	g := Graph{}
	for name := range installed {
		g[name] = nil
		ps, ok := sources[name]
		if !ok {
			continue
		}
		for _, d := range variantDeps(ps) {
			if _, ok := installed[d]; ok {
				g[name] = append(g[name], d)
			}
		}
	}
	return g
}

// restrict keeps the nodes in keep and the edges between them.
func (g Graph) restrict(keep []string) Graph {
	in := map[string]bool{}
	for _, n := range keep {
		in[n] = true
	}
	out := Graph{}
	for _, n := range keep {
		out[n] = nil
		for _, d := range g[n] {
			if in[d] {
				out[n] = append(out[n], d)
			}
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func uniqueSorted(in []string) []string {
	out := slices.Clone(in)
	sort.Strings(out)
	return slices.Compact(out)
}
