package cozypkg

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

type nodeKind int

const (
	packageNode nodeKind = iota
	componentNode
)

// diagramNode is one box of the graph.
type diagramNode struct {
	id, label string
	kind      nodeKind
	// missing marks a dependency that names no PackageSource or installable component.
	missing bool
}

// diagramEdge is a dependency: from needs to.
type diagramEdge struct {
	from, to string
	// variants, when set, are the only variants that have this dependency.
	variants []string
}

// diagram is a dependency graph ready to be written as DOT. Every edge end is a node.
type diagram struct {
	nodes map[string]*diagramNode
	edges map[[2]string]*diagramEdge
}

func newDiagram() *diagram {
	return &diagram{nodes: map[string]*diagramNode{}, edges: map[[2]string]*diagramEdge{}}
}

// node adds a node; the first description of an id wins.
func (d *diagram) node(id, label string, kind nodeKind, missing bool) {
	if _, ok := d.nodes[id]; !ok {
		d.nodes[id] = &diagramNode{id: id, label: label, kind: kind, missing: missing}
	}
}

// edge adds an edge between two nodes already added, once.
func (d *diagram) edge(from, to string) {
	if _, ok := d.edges[[2]string{from, to}]; !ok {
		d.edges[[2]string{from, to}] = &diagramEdge{from: from, to: to}
	}
}

// label records the variants an edge is limited to.
func (d *diagram) label(from, to string, variants map[string]bool) {
	if e, ok := d.edges[[2]string{from, to}]; ok {
		e.variants = sortedKeys(variants)
	}
}

// write renders the diagram as a Graphviz digraph: nodes sorted by id, then edges sorted by
// their ends. Packages are light blue, components light yellow, missing targets light coral
// and dashed; package edges are black, edges from components green, edges to a missing target
// red and dashed.
func (d *diagram) write(w io.Writer) error {
	var b strings.Builder
	b.WriteString("digraph {\n")
	b.WriteString("\tgraph [rankdir=\"RL\", nodesep=\"0.5\", ranksep=\"1.0\"];\n")
	for _, id := range sortedKeys(d.nodes) {
		n := d.nodes[id]
		fill, style := "lightblue", "rounded,filled"
		if n.kind == componentNode {
			fill = "lightyellow"
		}
		if n.missing {
			fill, style = "lightcoral", "rounded,filled,dashed"
		}
		fmt.Fprintf(&b, "\t%s [label=%s, shape=\"box\", style=%q, fillcolor=%q];\n", quote(id), quote(n.label), style, fill)
	}
	keys := make([][2]string, 0, len(d.edges))
	for k := range d.edges {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		fmt.Fprintf(&b, "\t%s -> %s [%s];\n", quote(k[0]), quote(k[1]), d.edgeAttrs(d.edges[k]))
	}
	b.WriteString("}\n")
	if _, err := io.WriteString(w, b.String()); err != nil {
		return fmt.Errorf("write DOT: %w", err)
	}
	return nil
}

func (d *diagram) edgeAttrs(e *diagramEdge) string {
	var attrs []string
	switch {
	case d.nodes[e.to].missing:
		attrs = append(attrs, `color="red"`, `style="dashed"`)
	case d.nodes[e.from].kind == packageNode && d.nodes[e.to].kind == packageNode:
		attrs = append(attrs, `color="black"`)
	default:
		attrs = append(attrs, `color="green"`)
	}
	if len(e.variants) > 0 {
		attrs = append(attrs, "label="+quote(strings.Join(e.variants, ",")))
	}
	return strings.Join(attrs, ", ")
}

// quote makes s a DOT double-quoted string: quotes and backslashes escaped, line breaks as \n.
func quote(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`, "\r", "")
	return `"` + r.Replace(s) + `"`
}
