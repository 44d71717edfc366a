package packageloop

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v4"
)

// A values file is edited as text, not re-encoded: yaml.v3 keeps comments and key order but
// drops blank lines and re-indents, and a values.yaml is documentation (## @param lines,
// sections) that a developer commits. So the Node API only locates what to change — a scalar's
// line and column, or where a mapping ends — and the bytes around it are left exactly as they
// were. Every edit is checked by decoding the result: it must equal the old document with the
// one value set, or the edit is refused instead of written.

// valuePath is a path of keys in a values file, such as image.tag.
type valuePath []string

func (p valuePath) String() string { return strings.Join(p, ".") }

// stringValue is a string to set at a path of a values file.
type stringValue struct {
	Path  valuePath
	Value string
}

// lookupString returns the string at path in the values document data; found is false when a
// key on the path is missing or its value is null. A value that is not a string scalar, or a
// path through something other than a mapping, is an error.
func lookupString(data []byte, path valuePath) (value string, found bool, err error) {
	root, err := parseValues(data)
	if err != nil {
		return "", false, err
	}
	parent, err := walkMappings(root, path)
	if err != nil || parent == nil {
		return "", false, err
	}
	_, v := mappingEntry(parent, path[len(path)-1])
	if v == nil || v.Tag == "!!null" {
		return "", false, nil
	}
	if v.Kind == yaml.ScalarNode && v.Tag != "!!str" {
		return "", false, fmt.Errorf("%s at line %d: want a string, found %s: quote it", path, v.Line, describe(v))
	}
	if v.Kind != yaml.ScalarNode {
		return "", false, fmt.Errorf("%s at line %d: want a string, found %s", path, v.Line, describe(v))
	}
	return v.Value, true, nil
}

// setStrings returns data with each value set at its path, and nothing else in the text
// changed: a scalar that already holds the string stays as it is (so setting what is there
// returns data unchanged, byte for byte), another scalar is replaced in place in its own quoting
// style, and a key missing from its block mapping is appended as the mapping's last entry, at
// the indentation of its first. The mappings on the path must exist.
func setStrings(data []byte, values []stringValue) ([]byte, error) {
	for _, v := range values {
		if len(v.Path) == 0 {
			return nil, errors.New("set a value: empty key path")
		}
		next, err := setString(data, v)
		if err != nil {
			return nil, fmt.Errorf("set %s: %w", v.Path, err)
		}
		if err := checkEdit(data, next, v); err != nil {
			return nil, fmt.Errorf("set %s: %w", v.Path, err)
		}
		data = next
	}
	return data, nil
}

// setString makes one edit of data.
func setString(data []byte, v stringValue) ([]byte, error) {
	root, err := parseValues(data)
	if err != nil {
		return nil, err
	}
	parent, err := walkMappings(root, v.Path)
	if err != nil {
		return nil, err
	}
	if parent == nil && len(v.Path) == 1 {
		return nil, errors.New("the values file is empty: add at least one key")
	}
	if parent == nil {
		return nil, fmt.Errorf("no mapping %s in the values file: add it", valuePath(v.Path[:len(v.Path)-1]))
	}
	key := v.Path[len(v.Path)-1]
	k, val := mappingEntry(parent, key)
	switch {
	case val == nil:
		return appendEntry(data, parent, key, v.Value)
	case val.Kind != yaml.ScalarNode:
		return nil, fmt.Errorf("line %d holds %s: want a string scalar; replace it by hand", val.Line, describe(val))
	case val.Tag == "!!str" && val.Value == v.Value:
		return data, nil
	}
	start, end, err := scalarSpan(data, k, val)
	if err != nil {
		return nil, err
	}
	text := encodeScalar(v.Value, val.Style)
	if start == end { // an empty null value: "key:" becomes "key: value"
		text = " " + text
	}
	return splice(data, start, end, text), nil
}

// parseValues decodes a values document; nil is an empty document.
func parseValues(data []byte) (*yaml.Node, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return nil, fmt.Errorf("parse values file: %w", err)
	}
	if doc.Kind == 0 || len(doc.Content) == 0 {
		return nil, nil
	}
	root := doc.Content[0]
	if root.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("parse values file: the top level is %s, want a mapping", describe(root))
	}
	return root, nil
}

// walkMappings follows path up to its last key and returns the mapping that holds (or would
// hold) that key; nil when a mapping on the way is missing or null.
func walkMappings(root *yaml.Node, path valuePath) (*yaml.Node, error) {
	node := root
	for i, key := range path[:len(path)-1] {
		if node == nil {
			return nil, nil
		}
		_, v := mappingEntry(node, key)
		switch {
		case v == nil || v.Tag == "!!null":
			return nil, nil
		case v.Kind != yaml.MappingNode:
			return nil, fmt.Errorf("%s at line %d: want a mapping, found %s", path[:i+1], v.Line, describe(v))
		}
		node = v
	}
	return node, nil
}

// mappingEntry returns the key and value nodes of key in the mapping m, or nils.
func mappingEntry(m *yaml.Node, key string) (k, v *yaml.Node) {
	if m == nil {
		return nil, nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return m.Content[i], m.Content[i+1]
		}
	}
	return nil, nil
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias (*" + n.Value + ")"
	case yaml.ScalarNode:
		return fmt.Sprintf("a scalar of type %s", strings.TrimPrefix(n.Tag, "!!"))
	}
	return "a document"
}

// checkEdit decodes before and after and fails unless after is before with v set.
func checkEdit(before, after []byte, v stringValue) error {
	var want, got map[string]any
	if err := yaml.Unmarshal(before, &want); err != nil {
		return fmt.Errorf("parse values file: %w", err)
	}
	if err := yaml.Unmarshal(after, &got); err != nil {
		return fmt.Errorf("the edited values file does not parse (%v): set the value by hand", err)
	}
	if want == nil {
		want = map[string]any{}
	}
	m := want
	for _, key := range v.Path[:len(v.Path)-1] {
		next, ok := m[key].(map[string]any)
		if !ok {
			return fmt.Errorf("no mapping %s before the edit", v.Path)
		}
		m = next
	}
	m[v.Path[len(v.Path)-1]] = v.Value
	if !reflect.DeepEqual(want, got) {
		return errors.New("editing the text in place would change more than this value (YAML laid out in a way this edit does not follow): set it by hand")
	}
	return nil
}

// splice replaces data[start:end] with text.
func splice(data []byte, start, end int, text string) []byte {
	out := make([]byte, 0, len(data)-(end-start)+len(text))
	out = append(out, data[:start]...)
	out = append(out, text...)
	return append(out, data[end:]...)
}

// lineStarts returns the byte offset at which each line of data starts.
func lineStarts(data []byte) []int {
	starts := []int{0}
	for i, b := range data {
		if b == '\n' && i+1 < len(data) {
			starts = append(starts, i+1)
		}
	}
	return starts
}

// lineBounds returns the byte range of line (1-based) without its line break.
func lineBounds(data []byte, line int) (start, end int, err error) {
	starts := lineStarts(data)
	if line < 1 || line > len(starts) {
		return 0, 0, fmt.Errorf("line %d is outside the file", line)
	}
	start = starts[line-1]
	end = len(data)
	if i := bytes.IndexByte(data[start:], '\n'); i >= 0 {
		end = start + i
	}
	if end > start && data[end-1] == '\r' {
		end--
	}
	return start, end, nil
}

// columnOffset is the byte offset of column (1-based, counted in characters as yaml.v3 counts
// them) on line.
func columnOffset(data []byte, line, column int) (int, error) {
	start, end, err := lineBounds(data, line)
	if err != nil {
		return 0, err
	}
	off := start
	for c := 1; c < column; c++ {
		if off >= end {
			return 0, fmt.Errorf("column %d is past the end of line %d", column, line)
		}
		_, size := utf8.DecodeRune(data[off:end])
		off += size
	}
	return off, nil
}

// scalarSpan returns the byte range of the single-line scalar val (whose key is k) in data.
// An empty null value ("key:") is the empty range right after the colon.
func scalarSpan(data []byte, k, val *yaml.Node) (int, int, error) {
	if val.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return 0, 0, fmt.Errorf("line %d holds a block scalar (| or >): make it a one-line string", val.Line)
	}
	if val.Style&yaml.TaggedStyle != 0 {
		return 0, 0, fmt.Errorf("line %d holds an explicitly tagged value: remove the tag", val.Line)
	}
	if val.Tag == "!!null" && val.Value == "" {
		return emptyValueSpan(data, k)
	}
	start, err := columnOffset(data, val.Line, val.Column)
	if err != nil {
		return 0, 0, err
	}
	_, lineEnd, err := lineBounds(data, val.Line)
	if err != nil {
		return 0, 0, err
	}
	end, err := scalarEnd(data[start:lineEnd], val)
	if err != nil {
		return 0, 0, fmt.Errorf("line %d: %w", val.Line, err)
	}
	return start, start + end, nil
}

// scalarEnd is the length of the scalar val at the start of rest (the remainder of its line).
func scalarEnd(rest []byte, val *yaml.Node) (int, error) {
	switch {
	case val.Style&yaml.DoubleQuotedStyle != 0:
		for i := 1; i < len(rest); i++ {
			switch rest[i] {
			case '\\':
				i++
			case '"':
				return i + 1, nil
			}
		}
	case val.Style&yaml.SingleQuotedStyle != 0:
		for i := 1; i < len(rest); i++ {
			if rest[i] == '\'' {
				if i+1 < len(rest) && rest[i+1] == '\'' {
					i++
					continue
				}
				return i + 1, nil
			}
		}
	default:
		text := rest
		for i := 1; i < len(text); i++ { // a comment starts at a # after a space or tab
			if text[i] == '#' && (text[i-1] == ' ' || text[i-1] == '\t') {
				text = text[:i]
				break
			}
		}
		text = bytes.TrimRight(text, " \t")
		if string(text) == val.Value {
			return len(text), nil
		}
	}
	return 0, errors.New("the value does not end on its line (a multi-line or flow-style value): make it a one-line string")
}

// emptyValueSpan is the empty range right after the colon of "key:" whose value is empty.
func emptyValueSpan(data []byte, k *yaml.Node) (int, int, error) {
	start, err := columnOffset(data, k.Line, k.Column)
	if err != nil {
		return 0, 0, err
	}
	_, lineEnd, err := lineBounds(data, k.Line)
	if err != nil {
		return 0, 0, err
	}
	rest := data[start:lineEnd]
	keyLen := len(k.Value)
	if k.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0 {
		if keyLen, err = scalarEnd(rest, k); err != nil {
			return 0, 0, fmt.Errorf("line %d: key %s: %w", k.Line, k.Value, err)
		}
	} else if !bytes.HasPrefix(rest, []byte(k.Value)) {
		return 0, 0, fmt.Errorf("line %d: key %s is not where the parser put it: write \"%s: <value>\" on one line", k.Line, k.Value, k.Value)
	}
	after := bytes.TrimLeft(rest[keyLen:], " \t")
	if len(after) == 0 || after[0] != ':' {
		return 0, 0, fmt.Errorf("line %d: key %s is not followed by a colon on its line: write \"%s: <value>\"", k.Line, k.Value, k.Value)
	}
	colon := lineEnd - len(after)
	if tail := bytes.TrimSpace(after[1:]); len(tail) > 0 && tail[0] != '#' {
		return 0, 0, fmt.Errorf("line %d: the value of %s is not on the key's line: write \"%s: <value>\"", k.Line, k.Value, k.Value)
	}
	return colon + 1, colon + 1, nil
}

// appendEntry adds "key: value" as the last entry of the block mapping m.
func appendEntry(data []byte, m *yaml.Node, key, value string) ([]byte, error) {
	if m.Style&yaml.FlowStyle != 0 || len(m.Content) == 0 {
		return nil, fmt.Errorf("the mapping at line %d is written in flow style ({...}): write it as a block mapping, one key per line", m.Line)
	}
	first := m.Content[0]
	lineStart, _, err := lineBounds(data, first.Line)
	if err != nil {
		return nil, err
	}
	keyStart, err := columnOffset(data, first.Line, first.Column)
	if err != nil {
		return nil, err
	}
	// The first key may follow a list item's "- "; the new key lines up with it.
	indent := strings.Repeat(" ", utf8.RuneCount(data[lineStart:keyStart]))
	last, err := lastLine(m.Content[len(m.Content)-2], m.Content[len(m.Content)-1])
	if err != nil {
		return nil, err
	}
	_, end, err := lineBounds(data, last)
	if err != nil {
		return nil, err
	}
	newline := "\n"
	if bytes.Contains(data, []byte("\r\n")) {
		newline = "\r\n"
	}
	at := len(data)
	if i := bytes.IndexByte(data[end:], '\n'); i >= 0 {
		at = end + i + 1
	}
	entry := indent + encodeScalar(key, 0) + ": " + encodeScalar(value, 0) + newline
	if at == len(data) && !bytes.HasSuffix(data, []byte("\n")) {
		entry = newline + entry
	}
	return splice(data, at, at, entry), nil
}

// lastLine is the last line the entry k: v occupies, as far as the nodes record it: the line of
// its last node. A block scalar's text runs past its line, so an entry ending in one is refused;
// any other value spanning lines is caught by checkEdit.
func lastLine(k, v *yaml.Node) (int, error) {
	last := k.Line
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		last = max(last, n.Line)
		for _, c := range n.Content {
			walk(c)
		}
	}
	walk(v)
	end := v
	for len(end.Content) > 0 {
		end = end.Content[len(end.Content)-1]
	}
	if end.Kind == yaml.ScalarNode && end.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return 0, fmt.Errorf("the mapping ends in a block scalar (| or >) at line %d: add the key by hand", end.Line)
	}
	return last, nil
}

// encodeScalar writes s as a YAML scalar that reads back as the string s, in style when it is
// quoted, else plain where plain reads back as s and double-quoted otherwise.
func encodeScalar(s string, style yaml.Style) string {
	switch {
	case style&yaml.SingleQuotedStyle != 0 && !strings.ContainsAny(s, "\n\r"):
		return "'" + strings.ReplaceAll(s, "'", "''") + "'"
	case style&yaml.DoubleQuotedStyle == 0:
		if out, err := yaml.Marshal(s); err == nil {
			plain := strings.TrimSuffix(string(out), "\n")
			var back string
			if !strings.ContainsAny(plain, "\n\"'") && yaml.Unmarshal(out, &back) == nil && back == s {
				return plain
			}
		}
	}
	var b strings.Builder
	enc := json.NewEncoder(&b) // a JSON string is a YAML double-quoted scalar
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		panic(err) // encoding a string cannot fail
	}
	return strings.TrimSuffix(b.String(), "\n")
}
