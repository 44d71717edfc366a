package packageloop

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
)

func TestPushTarget(t *testing.T) {
	const reg = "127.0.0.1:5000"
	for _, tc := range []struct{ repo, wantValues, wantRef string }{
		// Mirrored hosts: pushed under the upstream name, which values.yaml keeps.
		{"ghcr.io/cozylab/echo", "ghcr.io/cozylab/echo", reg + "/ghcr.io/cozylab/echo:sha-0123456789ab"},
		{"registry.k8s.io/x/y", "registry.k8s.io/x/y", reg + "/registry.k8s.io/x/y:sha-0123456789ab"},
		// Anything else: REGISTRY semantics, the path moves to the registry.
		{"quay.io/org/app", reg + "/org/app", reg + "/org/app:sha-0123456789ab"},
		{"nginx", reg + "/library/nginx", reg + "/library/nginx:sha-0123456789ab"},
		// A second run over the rewritten name, or a lab whose registry moved, lands the same way.
		{reg + "/org/app", reg + "/org/app", reg + "/org/app:sha-0123456789ab"},
		{"127.0.0.1:4000/org/app", reg + "/org/app", reg + "/org/app:sha-0123456789ab"},
	} {
		values, ref, err := pushTarget(reg, tc.repo, "sha-0123456789ab")
		require.NoError(t, err, tc.repo)
		assert.Equal(t, tc.wantValues, values, tc.repo)
		assert.Equal(t, tc.wantRef, ref, tc.repo)
	}
	_, _, err := pushTarget(reg, "ghcr.io/cozylab/echo:v1", "sha-0")
	assert.ErrorContains(t, err, `image repository "ghcr.io/cozylab/echo:v1": want <registry>/<path> without a tag`)
}

func TestContentTag(t *testing.T) {
	assert.Equal(t, "sha-0be6954718d6", contentTag("sha256:0be6954718d62f9c87c87df03ad7b4dc30d487a05122491bdd57bba2092f0507"))
}

func TestCheckRegistry(t *testing.T) {
	for _, ok := range []string{"127.0.0.1:5000", "localhost:5000", "10.0.0.1:31234"} {
		assert.NoError(t, checkRegistry(ok), ok)
	}
	for _, bad := range []string{"http://127.0.0.1:5000", "127.0.0.1:5000/cozystack", "ghcr.io/cozystack/cozystack"} {
		assert.ErrorContains(t, checkRegistry(bad), "want the host:port of a plain-HTTP registry", bad)
	}
	assert.ErrorContains(t, checkRegistry(""), "set REGISTRY")
}

// writeTree writes files (slash paths relative to dir) into dir.
func writeTree(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for p, content := range files {
		full := filepath.Join(dir, filepath.FromSlash(p))
		require.NoError(t, os.MkdirAll(filepath.Dir(full), 0o755))
		require.NoError(t, os.WriteFile(full, []byte(content), 0o644))
	}
}

func TestImageNames(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"images/web/main.go":         "package main\n\nfunc main() {}\n",
		"images/api/main.go":         "package main\n\nfunc main() {}\n",
		"images/api/main_test.go":    "package main\n",
		"images/shared/lib.go":       "package shared\n",
		"images/legacy/Dockerfile":   "FROM scratch\n",
		"images/README.md":           "not a directory\n",
		"images/windows/main.go":     "//go:build windows\n\npackage main\n\nfunc main() {}\n",
		"images/windows/other.go":    "//go:build windows\n\npackage main\n",
		"images/empty/.gitkeep":      "",
		"images/web/static/index.md": "",
	})
	names, err := imageNames(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{"api", "web"}, names, "Go mains that build for linux, sorted")

	none := t.TempDir()
	writeTree(t, none, map[string]string{"images/legacy/Dockerfile": "FROM scratch\n"})
	_, err = imageNames(none)
	assert.ErrorContains(t, err, "has no image to build: each images/<name>/ must hold a Go main package (none of legacy does")

	_, err = imageNames(t.TempDir())
	assert.ErrorContains(t, err, "has no images/ directory")
}

func TestImageOutsideAGoModule(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Chart.yaml":       "apiVersion: v2\nname: x\nversion: 0.1.0\n",
		"values.yaml":      "image:\n  repository: ghcr.io/cozylab/x\n",
		"images/x/main.go": "package main\n\nfunc main() {}\n",
	})
	_, err := Image(t.Context(), ImageOptions{ChartDir: dir, Registry: "127.0.0.1:1"}, progress.Discard)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "is not inside a Go module")
	assert.Contains(t, err.Error(), "go mod init")
}

func TestImageNeedsARepository(t *testing.T) {
	// Checked before anything runs: a missing repository is reported even outside a module.
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Chart.yaml":       "apiVersion: v2\nname: x\nversion: 0.1.0\n",
		"values.yaml":      "image:\n  tag: v1\n",
		"images/x/main.go": "package main\n\nfunc main() {}\n",
	})
	_, err := Image(t.Context(), ImageOptions{ChartDir: dir, Registry: "127.0.0.1:1"}, progress.Discard)
	assert.ErrorContains(t, err, "values.yaml has no image.repository: set it to the image's upstream repository, such as ghcr.io/cozylab/x")
}

func TestImageRepositories(t *testing.T) {
	one := []byte("image:\n  repository: ghcr.io/cozylab/echo\n")
	repos, err := imageRepositories(one, []string{"echo"})
	require.NoError(t, err)
	assert.Equal(t, []string{"ghcr.io/cozylab/echo"}, repos, "one image: image.repository")

	several := []byte("images:\n  api:\n    repository: ghcr.io/cozylab/api\n  web:\n    repository: quay.io/x/web\n")
	repos, err = imageRepositories(several, []string{"api", "web"})
	require.NoError(t, err)
	assert.Equal(t, []string{"ghcr.io/cozylab/api", "quay.io/x/web"}, repos, "several: images.<name>.repository")

	_, err = imageRepositories(several, []string{"api", "worker"})
	assert.ErrorContains(t, err, "values.yaml has no images.worker.repository")
	_, err = imageRepositories(one, []string{"api", "echo"})
	assert.ErrorContains(t, err, "values.yaml has no images.api.repository")
}
