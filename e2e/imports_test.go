package e2e

import (
	"fmt"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"
)

// importRules says, per top-level folder, which in-repo folders its Go files may import (its own
// folder is always allowed). Imports flow from the edges (magefile, e2e) inward: the cluster must
// not know how it was booted (operator never imports lab or talos), talos never imports lab, and
// only the commands users run (the magefiles and cli/, the library they share with the cozylab
// command) import e2e. internal/ holds the general-purpose
// packages (progress, condition, process, pki, command, the binaries cache, the control plane
// and its test harness): every folder may import it, and it imports nothing else of the repo.
// A folder missing here may not be imported by the others and imports freely.
var importRules = map[string][]string{
	"internal": {},
	"operator": {"internal"},
	"talos":    {"internal"},
	"packages": {"internal"},
	"lab":      {"internal", "talos", "packages", "operator/api"},
	"sandbox":  {"internal", "operator/api", "lab"},
	"e2e":      {"*"},
	"cli":      {"*"}, // the commands' library: the mage targets and the cozylab command
	".":        {"*"}, // magefile.go
}

// testImports may be imported by the _test.go files of any folder: the API types
// (operator/api/...), to check charts and objects against them.
var testImports = []string{"operator/api/v1alpha1"}

type violation struct{ file, imp string }

func (v violation) String() string { return v.file + " imports " + v.imp }

// checkImports walks the module rooted at root (skipping nested modules, testdata and hidden
// folders) and returns every import that breaks importRules.
func checkImports(root, module string) ([]violation, error) {
	var out []violation
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			name := d.Name()
			if rel != "." && (strings.HasPrefix(name, ".") || name == "testdata" || name == "node_modules") {
				return filepath.SkipDir
			}
			if _, err := os.Stat(filepath.Join(path, "go.mod")); rel != "." && err == nil {
				return filepath.SkipDir // a module of its own, such as the bincache tools modules
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return fmt.Errorf("parse %s: %w", rel, err)
		}
		from := topFolder(filepath.ToSlash(rel))
		for _, is := range f.Imports {
			imp, _ := strconv.Unquote(is.Path.Value)
			if imp != module && !strings.HasPrefix(imp, module+"/") {
				continue
			}
			target := strings.TrimPrefix(strings.TrimPrefix(imp, module), "/")
			if strings.HasSuffix(rel, "_test.go") && slices.Contains(testImports, target) {
				continue
			}
			if !allowed(from, target) {
				out = append(out, violation{file: filepath.ToSlash(rel), imp: imp})
			}
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, err
}

func topFolder(rel string) string {
	if i := strings.IndexByte(rel, '/'); i >= 0 {
		return rel[:i]
	}
	return "."
}

func allowed(from, target string) bool {
	if topFolder(target+"/") == from {
		return true
	}
	if topFolder(target+"/") == "e2e" {
		return from == "." || from == "cli" // only the commands run the pipeline
	}
	rules, ok := importRules[from]
	if !ok {
		return true
	}
	for _, r := range rules {
		if r == "*" || target == r || strings.HasPrefix(target, r+"/") {
			return true
		}
	}
	return false
}

func TestImportDirection(t *testing.T) {
	root, err := filepath.Abs("..")
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(root, "go.mod"))
	require.NoError(t, err)
	module := modfile.ModulePath(raw)
	require.NotEmpty(t, module)
	vs, err := checkImports(root, module)
	require.NoError(t, err)
	assert.Empty(t, vs, "imports that break the import-direction rule of CONTRIBUTING.md")
}

func TestImportDirectionCatchesViolations(t *testing.T) {
	root := t.TempDir()
	const mod = "example.com/m"
	files := map[string]string{
		"go.mod":                        "module example.com/m\n",
		"operator/ctrl/c.go":            `package ctrl; import _ "example.com/m/lab/local"`,
		"operator/ctrl/ok.go":           `package ctrl; import _ "example.com/m/operator/api/v1alpha1"`,
		"talos/gen/g.go":                `package gen; import _ "example.com/m/lab/state"`,
		"lab/local/l.go":                `package local; import ( _ "example.com/m/talos/gen"; _ "example.com/m/operator/api/v1alpha1"; _ "fmt" )`,
		"lab/local/bad.go":              `package local; import _ "example.com/m/operator/internal/x"`,
		"lab/local/e.go":                `package local; import _ "example.com/m/e2e"`,
		"e2e/p.go":                      `package e2e; import _ "example.com/m/lab/local"`,
		"lab/tools/x/go.mod":            "module example.com/x\n",
		"lab/tools/x/x.go":              `package x; import _ "example.com/m/e2e"`,
		"lab/local/testdata/t.go":       `package t; import _ "example.com/m/e2e"`,
		"sandbox/relay/r.go":            `package relay; import _ "example.com/m/lab/state"`,
		"packages/embed.go":             `package packages; import _ "example.com/m/operator/api"`,
		"magefile.go":                   `package main; import _ "example.com/m/e2e"`,
		"cli/c.go":                      `package cli; import _ "example.com/m/e2e"`,
		"operator/api/v1alpha1/a.go":    `package v1alpha1`,
		"operator/ctrl/c_test.go":       `package ctrl; import _ "example.com/m/internal/controlplane/cptest"`,
		"operator/ctrl/d_test.go":       `package ctrl; import _ "example.com/m/lab/controlplane"`,
		"operator/internal/optest/h.go": `package optest; import _ "example.com/m/internal/controlplane/cptest"`,
		"internal/progress/p.go":        `package progress; import _ "example.com/m/internal/process"`,
		"internal/condition/c.go":       `package condition; import _ "example.com/m/lab/state"`,
		"talos/flows/f.go":              `package flows; import _ "example.com/m/internal/condition"`,
	}
	for name, body := range files {
		p := filepath.Join(root, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	vs, err := checkImports(root, mod)
	require.NoError(t, err)
	var got []string
	for _, v := range vs {
		got = append(got, v.String())
	}
	assert.Equal(t, []string{
		"internal/condition/c.go imports example.com/m/lab/state",
		"lab/local/bad.go imports example.com/m/operator/internal/x",
		"lab/local/e.go imports example.com/m/e2e",
		"operator/ctrl/c.go imports example.com/m/lab/local",
		"operator/ctrl/d_test.go imports example.com/m/lab/controlplane",
		"packages/embed.go imports example.com/m/operator/api",
		"talos/gen/g.go imports example.com/m/lab/state",
	}, got)
}
