package cozypkg

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Manifest is one package named in a file: by a Package, a PackageSource, or an item of a
// PackageList or PackageSourceList.
type Manifest struct {
	// Name of the package.
	Name string
	// Path of the YAML file that names it.
	Path string
	// Package is the Package document of that name in the file; nil when the file only has
	// its PackageSource.
	Package *v1alpha1.Package
}

// ReadManifests reads the packages named in paths, in order. A path is a file, or a directory
// walked recursively (lexical order) for *.yaml and *.yml files. Documents that do not decode,
// or are not cozystack.io kinds, are skipped: a directory of manifests may hold anything else.
func ReadManifests(paths []string) ([]Manifest, error) {
	var out []Manifest
	for _, p := range paths {
		found, err := readPath(p)
		if err != nil {
			return nil, fmt.Errorf("read packages from %s: %w", p, err)
		}
		out = append(out, found...)
	}
	return out, nil
}

func readPath(path string) ([]Manifest, error) {
	info, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return readFile(path)
	}
	var out []Manifest
	err = filepath.WalkDir(path, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !(strings.HasSuffix(p, ".yaml") || strings.HasSuffix(p, ".yml")) {
			return nil
		}
		found, err := readFile(p)
		if err != nil {
			return err
		}
		out = append(out, found...)
		return nil
	})
	return out, err
}

func readFile(path string) ([]Manifest, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	docs, err := splitDocuments(data)
	if err != nil {
		return nil, fmt.Errorf("split %s into YAML documents: %w", path, err)
	}
	var out []Manifest
	for _, doc := range docs {
		out = append(out, decodeDocument(doc, path)...)
	}
	return out, nil
}

// splitDocuments splits a YAML stream at its "---" separator lines.
func splitDocuments(data []byte) ([][]byte, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs, nil
		}
		if err != nil {
			return nil, err
		}
		if len(bytes.TrimSpace(doc)) > 0 {
			docs = append(docs, doc)
		}
	}
}

// header is the part of a Kubernetes object that says what it is.
type header struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
}

// decodeDocument returns the packages one document names; none when it does not decode or is
// not a cozystack.io Package, PackageSource, PackageList or PackageSourceList.
func decodeDocument(doc []byte, path string) []Manifest {
	var h header
	if err := yaml.Unmarshal(doc, &h); err != nil {
		return nil
	}
	gv, err := schema.ParseGroupVersion(h.APIVersion)
	if err != nil || gv.Group != v1alpha1.GroupVersion.Group {
		return nil
	}
	var out []Manifest
	switch h.Kind {
	case "Package":
		pkg := &v1alpha1.Package{}
		if yaml.Unmarshal(doc, pkg) == nil {
			out = append(out, packageManifest(pkg, path)...)
		}
	case "PackageList":
		list := &v1alpha1.PackageList{}
		if yaml.Unmarshal(doc, list) == nil {
			for i := range list.Items {
				out = append(out, packageManifest(&list.Items[i], path)...)
			}
		}
	case "PackageSource":
		if h.Metadata.Name != "" {
			out = append(out, Manifest{Name: h.Metadata.Name, Path: path})
		}
	case "PackageSourceList":
		list := &v1alpha1.PackageSourceList{}
		if yaml.Unmarshal(doc, list) == nil {
			for _, ps := range list.Items {
				if ps.Name != "" {
					out = append(out, Manifest{Name: ps.Name, Path: path})
				}
			}
		}
	}
	return out
}

// packageManifest prepares one Package for a create; one without a name is skipped.
func packageManifest(pkg *v1alpha1.Package, path string) []Manifest {
	if pkg.Name == "" {
		return nil
	}
	// An exported object carries server-owned fields a create refuses.
	pkg.ResourceVersion, pkg.UID = "", ""
	pkg.Status = v1alpha1.PackageStatus{}
	pkg.SetGroupVersionKind(v1alpha1.GroupVersion.WithKind("Package"))
	return []Manifest{{Name: pkg.Name, Path: path, Package: pkg}}
}

// requested merges package names given as arguments with those named in files: arguments
// first, then file order, each name once. A name in more than one file takes the last file's
// manifest, with a warning on warn; within one file a Package document beats a PackageSource.
func requested(args []string, paths []string, warn io.Writer) ([]string, map[string]Manifest, error) {
	manifests, err := ReadManifests(paths)
	if err != nil {
		return nil, nil, err
	}
	var names []string
	seen := map[string]bool{}
	add := func(n string) {
		if !seen[n] {
			seen[n] = true
			names = append(names, n)
		}
	}
	for _, a := range args {
		add(a)
	}
	byName := map[string]Manifest{}
	for _, m := range manifests {
		add(m.Name)
		prev, ok := byName[m.Name]
		switch {
		case !ok:
			byName[m.Name] = m
		case prev.Path != m.Path:
			fmt.Fprintf(warn, "warning: package %q is defined in both %s and %s, using the latter\n", m.Name, prev.Path, m.Path)
			byName[m.Name] = m
		case m.Package != nil:
			byName[m.Name] = m
		}
	}
	return names, byName, nil
}
