package install

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// Parse decodes a multi-document YAML stream into objects, skipping empty documents. A
// document without apiVersion or kind is an error naming its position in source.
func Parse(source string, data []byte) ([]*unstructured.Unstructured, error) {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for i := 1; ; i++ {
		var obj map[string]any
		if err := dec.Decode(&obj); errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return nil, fmt.Errorf("parse %s document %d: %w", source, i, err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if u.GetAPIVersion() == "" || u.GetKind() == "" {
			return nil, fmt.Errorf("parse %s document %d: no apiVersion or kind", source, i)
		}
		out = append(out, u)
	}
}

// ParseFS parses the named files of fsys (every *.yaml file, sorted, when names is empty).
func ParseFS(fsys fs.FS, names ...string) ([]*unstructured.Unstructured, error) {
	if len(names) == 0 {
		var err error
		if names, err = fs.Glob(fsys, "*.yaml"); err != nil {
			return nil, fmt.Errorf("list manifests: %w", err)
		}
		sort.Strings(names)
	}
	if len(names) == 0 {
		return nil, errors.New("parse manifests: no YAML files")
	}
	var out []*unstructured.Unstructured
	for _, n := range names {
		data, err := fs.ReadFile(fsys, n)
		if err != nil {
			return nil, fmt.Errorf("read manifest %s: %w", n, err)
		}
		objs, err := Parse(n, data)
		if err != nil {
			return nil, err
		}
		out = append(out, objs...)
	}
	return out, nil
}
