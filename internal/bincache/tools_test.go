package bincache

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/modfile"

	"github.com/cozylab/cozylab/internal/command"
)

// TestToolsModules keeps the declarative table and the committed tools modules in step: every
// tool is a `tool` directive of its module, required at its pinned version, and the module's
// replace set is exactly the table's.
func TestToolsModules(t *testing.T) {
	for _, dir := range ModuleDirs() {
		t.Run(dir, func(t *testing.T) {
			path := filepath.Join("tools", dir, "go.mod")
			raw, err := os.ReadFile(path)
			require.NoError(t, err)
			mf, err := modfile.Parse(path, raw, nil)
			require.NoError(t, err)
			_, err = os.Stat(filepath.Join("tools", dir, "go.sum"))
			require.NoError(t, err, "tools module %s has no go.sum; commit it", dir)

			var wantTools, gotTools []string
			var replace []Replace
			for _, tool := range Tools {
				if tool.Dir != dir {
					continue
				}
				wantTools = append(wantTools, tool.Package)
				if replace == nil {
					replace = tool.Replace
				}
				assert.Equal(t, replace, tool.Replace, "tools sharing %s must share one replace set", dir)
				fix := fmt.Sprintf("cd %s && go get -tool %s@%s", filepath.Join("internal/bincache/tools", dir), tool.Package, tool.Version)
				assert.Truef(t, requires(mf, tool.Module, tool.Version), "%s does not require %s %s; run: %s", path, tool.Module, tool.Version, fix)
			}
			for _, tl := range mf.Tool {
				gotTools = append(gotTools, tl.Path)
			}
			sort.Strings(wantTools)
			sort.Strings(gotTools)
			assert.Equal(t, wantTools, gotTools, "tool directives of %s", path)

			var gotReplace []Replace
			for _, r := range mf.Replace {
				gotReplace = append(gotReplace, Replace{Old: r.Old.Path, New: r.New.Path, Version: r.New.Version})
			}
			sortReplaces(replace)
			sortReplaces(gotReplace)
			assert.Equal(t, replace, gotReplace, "replace directives of %s", path)
		})
	}
}

// TestToolsModulesCarryUpstreamReplaces checks each tool's table replace set against the
// replace directives of the tool's own go.mod: a dependency's replaces are ignored, so every
// one that names a module version (not a local path) must be copied into the tools module, or
// the binary is built from other code than upstream's.
func TestToolsModulesCarryUpstreamReplaces(t *testing.T) {
	for _, tool := range Tools {
		t.Run(tool.Name, func(t *testing.T) {
			// The module cache answers once the tool was built; otherwise the proxy does.
			cmd := exec.CommandContext(t.Context(), "go", "mod", "download", "-json", tool.Module+"@"+tool.Version)
			cmd.Dir, cmd.Env = t.TempDir(), append(os.Environ(), "GOFLAGS=", "GOWORK=off", "GOTOOLCHAIN=local")
			out, err := command.Run(cmd)
			require.NoError(t, err)
			var dl struct{ GoMod string }
			require.NoError(t, json.Unmarshal(out, &dl))
			raw, err := os.ReadFile(dl.GoMod)
			require.NoError(t, err)
			mf, err := modfile.Parse(dl.GoMod, raw, nil)
			require.NoError(t, err)
			for _, r := range mf.Replace {
				if r.New.Version == "" {
					continue // a path inside the module's repository; the proxy serves it as its own module
				}
				assert.Contains(t, tool.Replace, Replace{Old: r.Old.Path, New: r.New.Path, Version: r.New.Version},
					"%s %s replaces %s; copy it into tools/%s/go.mod and the table", tool.Module, tool.Version, r.Old.Path, tool.Dir)
			}
		})
	}
}

func requires(mf *modfile.File, module, version string) bool {
	return slices.ContainsFunc(mf.Require, func(r *modfile.Require) bool {
		return r.Mod.Path == module && r.Mod.Version == version
	})
}

func sortReplaces(rs []Replace) {
	sort.Slice(rs, func(i, j int) bool { return rs[i].Old < rs[j].Old })
}

func TestKubernetesToolsCarryVersion(t *testing.T) {
	tool, ok := Lookup(KubeAPIServer)
	require.True(t, ok)
	// Both version packages must be stamped, or /version says v0.0.0 and kubeVersion charts fail.
	for _, want := range []string{
		"k8s.io/component-base/version.gitVersion=v1.35.4",
		"k8s.io/client-go/pkg/version.gitVersion=v1.35.4",
		"k8s.io/component-base/version.gitMinor=35",
		"k8s.io/client-go/pkg/version.gitMajor=1",
	} {
		assert.Contains(t, tool.LDFlags, want)
	}
	assert.Contains(t, tool.Replace, Replace{Old: "k8s.io/client-go", New: "k8s.io/client-go", Version: "v0.35.4"})
	assert.Len(t, tool.Replace, 31)
}

func TestModuleDirs(t *testing.T) {
	assert.Equal(t, []string{"kubernetes", "etcd", "kwok", "controller-gen", "source-controller", "helm-controller",
		"kustomize-controller", "notification-controller", "coredns"}, ModuleDirs())
}
