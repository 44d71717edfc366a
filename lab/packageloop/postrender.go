package packageloop

import (
	"bytes"
	"fmt"
	"sort"
	"strings"

	"helm.sh/helm/v3/pkg/releaseutil"
	"sigs.k8s.io/yaml"
)

// labeler is a Helm post-renderer that adds labels to every rendered object, overriding labels
// of the same key like helm-controller's origin labels do.
type labeler struct{ labels map[string]string }

// Run implements postrender.PostRenderer.
func (l labeler) Run(in *bytes.Buffer) (*bytes.Buffer, error) {
	docs := releaseutil.SplitManifests(in.String())
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	var out bytes.Buffer
	for _, k := range keys {
		var obj map[string]any
		if err := yaml.Unmarshal([]byte(docs[k]), &obj); err != nil {
			return nil, fmt.Errorf("parse rendered manifest: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		addLabels(obj, l.labels)
		data, err := yaml.Marshal(obj)
		if err != nil {
			return nil, fmt.Errorf("encode rendered manifest: %w", err)
		}
		out.WriteString("---\n")
		for _, line := range strings.Split(docs[k], "\n") {
			if strings.HasPrefix(line, "# Source: ") {
				out.WriteString(line + "\n") // keep `helm template`-style provenance for show
			}
		}
		out.Write(data)
	}
	return &out, nil
}

// addLabels sets labels on obj's metadata.labels, creating the maps it needs.
func addLabels(obj map[string]any, labels map[string]string) {
	meta, _ := obj["metadata"].(map[string]any)
	if meta == nil {
		meta = map[string]any{}
		obj["metadata"] = meta
	}
	have, _ := meta["labels"].(map[string]any)
	if have == nil {
		have = map[string]any{}
		meta["labels"] = have
	}
	for k, v := range labels {
		have[k] = v
	}
}
