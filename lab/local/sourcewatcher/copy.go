package sourcewatcher

import (
	"fmt"
	"path"
	"strings"

	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
)

// artifactPrefix starts every copy target.
const artifactPrefix = "@artifact"

// Build applies the copy operations in order to the source trees (by alias) and returns the
// output tree. Each error names the copy by index and "from".
func Build(ops []sw.CopyOperation, sources map[string]Tree) (Tree, error) {
	out := Tree{}
	for i, op := range ops {
		if err := apply(op, sources, out); err != nil {
			return nil, fmt.Errorf("copy[%d] from %q: %w", i, op.From, err)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("build artifact: no files")
	}
	return out, nil
}

// copyItem is one file a copy operation writes: where from and where to.
type copyItem struct{ src, dst string }

// apply runs one copy operation into out.
func apply(op sw.CopyOperation, sources map[string]Tree, out Tree) error {
	alias, pattern, err := parseFrom(op.From)
	if err != nil {
		return err
	}
	src, ok := sources[alias]
	if !ok {
		return fmt.Errorf("unknown source alias %q", alias)
	}
	to, intoDir, err := parseTo(op.To)
	if err != nil {
		return err
	}
	strategy := op.Strategy
	if strategy == "" {
		strategy = sw.OverwriteStrategy
	}
	if strategy != sw.OverwriteStrategy && strategy != sw.MergeStrategy {
		return fmt.Errorf("unknown strategy %q (want %s or %s)", strategy, sw.OverwriteStrategy, sw.MergeStrategy)
	}
	items, err := plan(src, pattern, op.Exclude, to, intoDir || out.isDir(to))
	if err != nil {
		return err
	}
	for _, it := range items {
		f := src[it.src]
		old, exists := out[it.dst]
		if strategy == sw.MergeStrategy && exists {
			if !isYAML(it.src) || !isYAML(it.dst) {
				return fmt.Errorf("merge %s into %s: the Merge strategy needs YAML files", it.src, it.dst)
			}
			merged, err := mergeYAML(old.Data, f.Data)
			if err != nil {
				return fmt.Errorf("merge %s into %s: %w", it.src, it.dst, err)
			}
			f = File{Data: merged, Executable: old.Executable}
		}
		out[it.dst] = f
	}
	return nil
}

// plan lists the files a copy writes. A literal file copied to a path without a trailing slash
// lands at exactly that path; otherwise every match lands below "to" at its path relative to
// the pattern's literal base — so "dir/**" copies the tree under dir, and a literal directory
// is copied with its own name, as cp -r does.
func plan(src Tree, pattern string, exclude []string, to string, intoDir bool) ([]copyItem, error) {
	if !hasMeta(pattern) {
		if _, ok := src[pattern]; ok {
			dst := to
			if intoDir {
				dst = joinPath(to, path.Base(pattern))
			}
			if excluded(exclude, path.Base(pattern), pattern) {
				return nil, fmt.Errorf("matches no file: its only match %s is excluded", pattern)
			}
			return []copyItem{{src: pattern, dst: dst}}, nil
		}
		// A literal directory: its tree, under its own name.
		base := path.Dir(pattern)
		if base == "." {
			base = ""
		}
		pattern = joinPath(pattern, "**")
		return collect(src, pattern, base, exclude, to)
	}
	return collect(src, pattern, literalBase(pattern), exclude, to)
}

// collect lists the files of src matching pattern — directly or through a matched directory —
// that no exclude pattern removes, each mapped below to by its path relative to base.
func collect(src Tree, pattern, base string, exclude []string, to string) ([]copyItem, error) {
	var items []copyItem
	for _, name := range src.sortedNames() {
		rel, ok := relativeTo(name, base)
		if !ok || !matchesOrBelow(pattern, base, rel) || excluded(exclude, rel, name) {
			continue
		}
		items = append(items, copyItem{src: name, dst: joinPath(to, rel)})
	}
	if len(items) == 0 {
		return nil, fmt.Errorf("matches no file")
	}
	return items, nil
}

// matchesOrBelow reports whether base/rel, or one of its parent directories below base,
// matches pattern.
func matchesOrBelow(pattern, base, rel string) bool {
	segs := splitPath(rel)
	for i := 1; i <= len(segs); i++ {
		if match(pattern, joinPath(base, strings.Join(segs[:i], "/"))) {
			return true
		}
	}
	return false
}

// excluded reports whether an exclude pattern matches the file's path relative to the copy base,
// one of that path's parent directories, its path in the source, or — for a pattern without a
// slash — any one of its path segments.
func excluded(patterns []string, rel, full string) bool {
	segs := splitPath(rel)
	for _, p := range patterns {
		p = strings.TrimSuffix(strings.TrimPrefix(p, "/"), "/")
		if match(p, full) {
			return true
		}
		for i := 1; i <= len(segs); i++ {
			if match(p, strings.Join(segs[:i], "/")) {
				return true
			}
			if !strings.Contains(p, "/") && match(p, segs[i-1]) {
				return true
			}
		}
	}
	return false
}

// relativeTo is name relative to the directory base ("" is the root).
func relativeTo(name, base string) (string, bool) {
	if base == "" {
		return name, true
	}
	rel, ok := strings.CutPrefix(name, base+"/")
	return rel, ok
}

func joinPath(a, b string) string {
	if a == "" {
		return b
	}
	return a + "/" + b
}

// parseFrom splits "@<alias>/<glob>" and checks the glob stays inside the source.
func parseFrom(from string) (alias, pattern string, err error) {
	rest, ok := strings.CutPrefix(from, "@")
	if !ok {
		return "", "", fmt.Errorf("from must look like @<alias>/<glob>")
	}
	alias, pattern, _ = strings.Cut(rest, "/")
	if alias == "" {
		return "", "", fmt.Errorf("from must look like @<alias>/<glob>")
	}
	clean, ok := cleanRelative(pattern)
	if !ok {
		return "", "", fmt.Errorf("path %q leaves the source root", pattern)
	}
	if clean == "" {
		clean = "**"
	}
	return alias, clean, nil
}

// parseTo splits "@artifact/<path>"; intoDir is true for a trailing slash or the artifact root.
func parseTo(to string) (target string, intoDir bool, err error) {
	rest, ok := strings.CutPrefix(to, artifactPrefix)
	if !ok || (rest != "" && !strings.HasPrefix(rest, "/")) {
		return "", false, fmt.Errorf("to %q must look like %s/<path>", to, artifactPrefix)
	}
	rest = strings.TrimPrefix(rest, "/")
	clean, ok := cleanRelative(rest)
	if !ok {
		return "", false, fmt.Errorf("to %q leaves the artifact root", to)
	}
	return clean, clean == "" || strings.HasSuffix(rest, "/"), nil
}
