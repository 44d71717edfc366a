package sourcewatcher

import (
	"path"
	"strings"
)

// hasMeta reports whether a path segment holds glob syntax.
func hasMeta(s string) bool {
	return strings.ContainsAny(s, `*?[\`)
}

// match reports whether name matches the doublestar pattern: segments are matched with
// path.Match, and a "**" segment matches zero or more whole segments.
func match(pattern, name string) bool {
	return matchSegments(splitPath(pattern), splitPath(name))
}

func matchSegments(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			rest := pat[1:]
			for i := 0; i <= len(name); i++ {
				if matchSegments(rest, name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}

// splitPath splits a slash path into its segments; "" has none.
func splitPath(p string) []string {
	if p == "" {
		return nil
	}
	return strings.Split(p, "/")
}

// literalBase is the leading run of pattern segments without glob syntax: the directory a
// matched file's relative path is taken from.
func literalBase(pattern string) string {
	segs := splitPath(pattern)
	n := 0
	for n < len(segs) && !hasMeta(segs[n]) {
		n++
	}
	return strings.Join(segs[:n], "/")
}

// cleanRelative cleans a slash path that must stay inside its root: no absolute path and no ".."
// that climbs out. "" and "." become "".
func cleanRelative(p string) (string, bool) {
	if strings.HasPrefix(p, "/") {
		return "", false
	}
	c := path.Clean(p)
	if c == "." {
		return "", true
	}
	if c == ".." || strings.HasPrefix(c, "../") {
		return "", false
	}
	return c, true
}
