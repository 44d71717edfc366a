package cozypkg

import (
	"context"
	"strings"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// DotOptions selects what Dot draws.
type DotOptions struct {
	Selection
	// Installed draws only installed packages, and only dependencies that are installed.
	Installed bool
	// Components draws the installable components and their dependencies too.
	Components bool
}

// Dot writes the dependency graph of the selected PackageSources (all of them when none is
// selected) to Out as a Graphviz digraph.
func (e *Env) Dot(ctx context.Context, opts DotOptions) error {
	names, _, err := requested(opts.Names, opts.Files, e.Err)
	if err != nil {
		return err
	}
	sources, err := e.sources(ctx)
	if err != nil {
		return err
	}
	in := diagramInput{sources: sources, components: opts.Components}
	if len(names) > 0 {
		in.selected = map[string]bool{}
		for _, n := range names {
			in.selected[n] = true
		}
	}
	if opts.Installed {
		pkgs, err := e.packages(ctx)
		if err != nil {
			return err
		}
		in.installed = map[string]bool{}
		for _, p := range pkgs {
			in.installed[p.Name] = true
		}
	}
	return buildDiagram(in).write(e.Out)
}

// diagramInput is everything a diagram is drawn from.
type diagramInput struct {
	sources []v1alpha1.PackageSource
	// selected limits the packages drawn with their dependencies; nil draws all.
	selected map[string]bool
	// installed limits packages and their dependencies to installed ones; nil draws all.
	installed map[string]bool
	// components draws the installable components.
	components bool
}

// builder accumulates a diagram. It knows every package and every installable component of
// the cluster, whether drawn or not, to tell a dependency that exists from a missing one.
type builder struct {
	d          *diagram
	packages   map[string]bool
	components map[string]bool
}

func buildDiagram(in diagramInput) *diagram {
	b := &builder{d: newDiagram(), packages: map[string]bool{}, components: map[string]bool{}}
	for _, ps := range in.sources {
		b.packages[ps.Name] = true
		for _, v := range ps.Spec.Variants {
			for _, c := range v.Components {
				if c.Install != nil {
					b.components[ps.Name+"."+c.Name] = true
				}
			}
		}
	}
	for i := range in.sources {
		ps := &in.sources[i]
		if in.selected != nil && !in.selected[ps.Name] || in.installed != nil && !in.installed[ps.Name] {
			continue
		}
		b.d.node(ps.Name, ps.Name, packageNode, false)
		b.packageDeps(ps, in.installed)
		if in.components {
			b.componentDeps(ps)
		}
	}
	return b.d
}

// packageDeps draws an edge from ps to each package a variant depends on, labelled with those
// variants when not all of them do.
func (b *builder) packageDeps(ps *v1alpha1.PackageSource, installed map[string]bool) {
	all := variantNames(ps)
	seen := map[string]map[string]bool{}
	for _, v := range ps.Spec.Variants {
		for _, dep := range v.DependsOn {
			if installed != nil && !installed[dep] {
				continue
			}
			b.d.node(dep, dep, packageNode, !b.packages[dep])
			b.d.edge(ps.Name, dep)
			addTo(seen, dep, v.Name)
		}
	}
	for dep, variants := range seen {
		if len(variants) < len(all) {
			b.d.label(ps.Name, dep, variants)
		}
	}
}

// componentDeps draws the installable components of ps: an edge to each component it depends
// on (or, with none, to ps), and a missing target with an edge to its own package. Edges not
// in every variant the component is in are labelled with the variants that have them.
func (b *builder) componentDeps(ps *v1alpha1.PackageSource) {
	inVariants := map[string]map[string]bool{} // component -> variants it is in
	depVariants := map[[2]string]map[string]bool{}
	hasDeps := map[string]bool{}
	for _, v := range ps.Spec.Variants {
		for _, c := range v.Components {
			if c.Install == nil {
				continue
			}
			id := ps.Name + "." + c.Name
			b.d.node(id, c.Name, componentNode, false)
			addTo(inVariants, id, v.Name)
			for _, dep := range c.Install.DependsOn {
				target, pkg, label := b.resolveComponent(ps.Name, dep)
				hasDeps[id] = true
				b.d.edge(id, target)
				key := [2]string{id, target}
				if depVariants[key] == nil {
					depVariants[key] = map[string]bool{}
				}
				depVariants[key][v.Name] = true
				b.d.node(target, label, componentNode, !b.components[target])
				if !b.components[target] {
					b.d.node(pkg, pkg, packageNode, !b.packages[pkg])
					b.d.edge(target, pkg)
				}
			}
		}
	}
	all := variantNames(ps)
	for id, variants := range inVariants {
		if hasDeps[id] {
			continue
		}
		b.d.edge(id, ps.Name)
		if len(variants) < len(all) {
			b.d.label(id, ps.Name, variants)
		}
	}
	for key, variants := range depVariants {
		if len(variants) < len(inVariants[key[0]]) {
			b.d.label(key[0], key[1], variants)
		}
	}
}

// resolveComponent turns a component's dependsOn entry into the node it names, that node's
// package and its label. A plain name is a component of the same package; a dotted name is
// "<package>.<component>", the package being the longest known package name it starts with
// (package names have dots themselves, like cozystack.networking), else all before the last dot.
func (b *builder) resolveComponent(pkg, dep string) (id, depPkg, label string) {
	if !strings.Contains(dep, ".") {
		return pkg + "." + dep, pkg, dep
	}
	for p := range b.packages {
		if strings.HasPrefix(dep, p+".") && len(p) > len(depPkg) {
			depPkg = p
		}
	}
	if depPkg == "" {
		depPkg = dep[:strings.LastIndex(dep, ".")]
	}
	return dep, depPkg, dep[len(depPkg)+1:]
}

// variantNames is the set of variant names of ps.
func variantNames(ps *v1alpha1.PackageSource) map[string]bool {
	names := map[string]bool{}
	for _, v := range ps.Spec.Variants {
		names[v.Name] = true
	}
	return names
}

func addTo(m map[string]map[string]bool, key, value string) {
	if m[key] == nil {
		m[key] = map[string]bool{}
	}
	m[key][value] = true
}
