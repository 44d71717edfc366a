package packageloop

import (
	"fmt"
	"strings"
)

// contextLines is how many unchanged lines surround a change in a hunk.
const contextLines = 3

// op is one line of an edit script: ' ' kept, '-' removed, '+' added.
type op struct {
	kind byte
	text string
}

// unifiedDiff returns a unified diff of a and b (whole texts) with the given file labels, or
// "" when they are equal.
func unifiedDiff(fromLabel, toLabel, a, b string) string {
	if a == b {
		return ""
	}
	ops := editScript(splitLines(a), splitLines(b))
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", fromLabel, toLabel)
	for start := 0; start < len(ops); {
		// Find the next change, then extend the hunk while changes are close together.
		first := start
		for first < len(ops) && ops[first].kind == ' ' {
			first++
		}
		if first == len(ops) {
			break
		}
		lo := max(first-contextLines, start)
		hi := first
		for i := first; i < len(ops); i++ {
			if ops[i].kind != ' ' {
				hi = i + 1
			} else if i-hi >= 2*contextLines {
				break
			}
		}
		hi = min(hi+contextLines, len(ops))
		writeHunk(&out, ops, lo, hi)
		start = hi
	}
	return out.String()
}

// writeHunk writes ops[lo:hi] with its @@ header.
func writeHunk(out *strings.Builder, ops []op, lo, hi int) {
	aStart, bStart := 1, 1
	for _, o := range ops[:lo] {
		if o.kind != '+' {
			aStart++
		}
		if o.kind != '-' {
			bStart++
		}
	}
	aLen, bLen := 0, 0
	for _, o := range ops[lo:hi] {
		if o.kind != '+' {
			aLen++
		}
		if o.kind != '-' {
			bLen++
		}
	}
	if aLen == 0 {
		aStart-- // an empty range names the line before it, as diff -u does
	}
	if bLen == 0 {
		bStart--
	}
	fmt.Fprintf(out, "@@ -%d,%d +%d,%d @@\n", aStart, aLen, bStart, bLen)
	for _, o := range ops[lo:hi] {
		out.WriteByte(o.kind)
		out.WriteString(o.text)
		out.WriteByte('\n')
	}
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}

// editScript turns a into b by a longest common subsequence over the lines between the common
// prefix and suffix (manifests differ in few places, so the quadratic middle stays small).
func editScript(a, b []string) []op {
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	ma, mb := a[pre:len(a)-suf], b[pre:len(b)-suf]
	// lcs[i][j] is the LCS length of ma[i:] and mb[j:].
	lcs := make([][]int, len(ma)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(mb)+1)
	}
	for i := len(ma) - 1; i >= 0; i-- {
		for j := len(mb) - 1; j >= 0; j-- {
			if ma[i] == mb[j] {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	ops := make([]op, 0, len(a)+len(b))
	for _, l := range a[:pre] {
		ops = append(ops, op{' ', l})
	}
	i, j := 0, 0
	for i < len(ma) || j < len(mb) {
		switch {
		case i < len(ma) && j < len(mb) && ma[i] == mb[j]:
			ops = append(ops, op{' ', ma[i]})
			i, j = i+1, j+1
		case j < len(mb) && (i == len(ma) || lcs[i][j+1] > lcs[i+1][j]):
			ops = append(ops, op{'+', mb[j]})
			j++
		default:
			ops = append(ops, op{'-', ma[i]})
			i++
		}
	}
	for _, l := range a[len(a)-suf:] {
		ops = append(ops, op{' ', l})
	}
	return ops
}

// colorize paints a unified diff for a terminal: headers bold, removals red, additions green,
// hunk headers cyan.
func colorize(diff string) string {
	var out strings.Builder
	for _, l := range splitLines(diff) {
		switch {
		case strings.HasPrefix(l, "--- "), strings.HasPrefix(l, "+++ "):
			out.WriteString("\x1b[1m" + l + "\x1b[0m")
		case strings.HasPrefix(l, "@@"):
			out.WriteString("\x1b[36m" + l + "\x1b[0m")
		case strings.HasPrefix(l, "-"):
			out.WriteString("\x1b[31m" + l + "\x1b[0m")
		case strings.HasPrefix(l, "+"):
			out.WriteString("\x1b[32m" + l + "\x1b[0m")
		default:
			out.WriteString(l)
		}
		out.WriteByte('\n')
	}
	return out.String()
}
