package sourcewatcher

import (
	"bytes"
	"fmt"
	"path"

	"go.yaml.in/yaml/v4"
)

// isYAML reports whether a file name has a YAML extension.
func isYAML(name string) bool {
	ext := path.Ext(name)
	return ext == ".yaml" || ext == ".yml"
}

// mergeYAML deep-merges the YAML document src over dst: maps are merged key by key, recursively;
// every other value (lists included) of src replaces the one in dst. Keys keep dst's order, new
// keys follow in src's order, and comments survive. An empty document on either side yields the
// other.
func mergeYAML(dst, src []byte) ([]byte, error) {
	var d, s yaml.Node
	if err := yaml.Unmarshal(dst, &d); err != nil {
		return nil, fmt.Errorf("parse target: %w", err)
	}
	if err := yaml.Unmarshal(src, &s); err != nil {
		return nil, fmt.Errorf("parse source: %w", err)
	}
	if len(s.Content) == 0 {
		return dst, nil
	}
	if len(d.Content) == 0 {
		return src, nil
	}
	dr, sr := d.Content[0], s.Content[0]
	if dr.Kind != yaml.MappingNode || sr.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("merge YAML: both documents must be maps (target is %s, source is %s)", kindName(dr), kindName(sr))
	}
	mergeMaps(dr, sr)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&d); err != nil {
		return nil, fmt.Errorf("encode merged YAML: %w", err)
	}
	if err := enc.Close(); err != nil {
		return nil, fmt.Errorf("encode merged YAML: %w", err)
	}
	return buf.Bytes(), nil
}

// mergeMaps merges the mapping node src into dst in place.
func mergeMaps(dst, src *yaml.Node) {
	for i := 0; i+1 < len(src.Content); i += 2 {
		key, val := src.Content[i], src.Content[i+1]
		j := mapIndex(dst, key.Value)
		switch {
		case j < 0:
			dst.Content = append(dst.Content, key, val)
		case dst.Content[j+1].Kind == yaml.MappingNode && val.Kind == yaml.MappingNode:
			mergeMaps(dst.Content[j+1], val)
		default:
			dst.Content[j+1] = val
		}
	}
}

// mapIndex is the index of key's key node in the mapping node m, or -1.
func mapIndex(m *yaml.Node, key string) int {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return i
		}
	}
	return -1
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a map"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return "a scalar"
	case yaml.AliasNode:
		return "an alias"
	default:
		return "empty"
	}
}
