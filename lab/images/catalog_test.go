package images

import (
	"bytes"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/packages"
)

const module = "github.com/cozylab/cozylab"

func TestCatalogEntriesAreComplete(t *testing.T) {
	seenName, seenRef := map[string]bool{}, map[string]bool{}
	for _, img := range Catalog() {
		t.Run(img.Name, func(t *testing.T) {
			assert.False(t, seenName[img.Name], "duplicate name")
			assert.False(t, seenRef[img.Upstream], "duplicate upstream reference")
			seenName[img.Name], seenRef[img.Upstream] = true, true

			tag, err := name.NewTag(img.Upstream, name.StrictValidation)
			require.NoError(t, err, "the upstream reference must name its registry and tag")
			assert.Equal(t, img.Upstream, tag.String(), "the reference must be written as it parses")

			assert.True(t, path.IsAbs(img.Path) && path.Clean(img.Path) == img.Path, "path %q", img.Path)
			assert.NotEmpty(t, img.User)
			assert.True(t, (img.Tool == "") != (img.Package == ""), "an image is either a cached tool or an in-repo main")
			if img.Tool != "" {
				tool, ok := bincache.Lookup(img.Tool)
				require.True(t, ok, "no tool %q in the binaries cache", img.Tool)
				assert.Equal(t, tool.Version, tag.TagStr(), "the image tag must be the version of the binary in it")
				assert.False(t, tool.CGO, "a cgo binary cannot run on an empty base")
			} else {
				rel, ok := strings.CutPrefix(img.Package, module+"/")
				require.True(t, ok, "%s is not in this module", img.Package)
				assert.FileExists(t, filepath.Join("..", "..", filepath.FromSlash(rel), "main.go"))
			}
		})
	}
}

func TestPushRefIsTheMirrorPath(t *testing.T) {
	for _, tc := range []struct{ name, want string }{
		{Pause, "127.0.0.1:5000/registry.k8s.io/pause:3.10.1"},
		{CoreDNS, "127.0.0.1:5000/registry.k8s.io/coredns/coredns:v1.13.1"},
		{SourceController, "127.0.0.1:5000/ghcr.io/fluxcd/source-controller:v1.7.2"},
		{CozystackOperator, "127.0.0.1:5000/ghcr.io/cozystack/cozystack/cozystack-operator:v1.6.0"},
	} {
		img, err := Lookup(tc.name)
		require.NoError(t, err)
		got, err := img.PushRef("127.0.0.1:5000")
		require.NoError(t, err)
		assert.Equal(t, tc.want, got)
	}
	for _, img := range Catalog() {
		ref, err := img.PushRef("10.0.0.1:5000")
		require.NoError(t, err, img.Name)
		up, err := name.NewTag(img.Upstream)
		require.NoError(t, err)
		assert.Equal(t, "10.0.0.1:5000/"+up.RegistryStr()+"/"+up.RepositoryStr()+":"+up.TagStr(), ref)
	}
}

func TestLookupAndHosts(t *testing.T) {
	_, err := Lookup("nginx")
	assert.ErrorContains(t, err, `unknown image "nginx": the lab builds pause, coredns,`)
	assert.Equal(t, []string{"ghcr.io", "registry.k8s.io"}, Hosts())
}

// TestUpstreamsAreWhatTheManifestsUse keeps the catalog and the references the platform applies
// in step: the Flux Deployment (packages/core/flux-aio, generated from operator/flux) and the
// installer chart's operator image.
func TestUpstreamsAreWhatTheManifestsUse(t *testing.T) {
	fluxImages := map[string]string{}
	raw, err := fs.ReadFile(packages.FS, "core/flux-aio/templates/flux.yaml")
	require.NoError(t, err)
	for _, doc := range bytes.Split(raw, []byte("\n---\n")) {
		var d appsv1.Deployment
		if yaml.Unmarshal(doc, &d) != nil || d.Kind != "Deployment" {
			continue
		}
		for _, c := range d.Spec.Template.Spec.Containers {
			fluxImages[c.Name] = c.Image
		}
	}
	require.Len(t, fluxImages, 5, "the Flux Deployment's containers")
	for _, n := range []string{SourceController, HelmController, SourceWatcher, KustomizeController, NotificationController} {
		img, err := Lookup(n)
		require.NoError(t, err)
		assert.Equal(t, fluxImages[n], img.Upstream, "%s: the Flux Deployment's image", n)
	}

	var values struct {
		CozystackOperator struct{ Image string } `json:"cozystackOperator"`
	}
	raw, err = fs.ReadFile(packages.FS, "core/installer/values.yaml")
	require.NoError(t, err)
	require.NoError(t, yaml.Unmarshal(raw, &values))
	op, err := Lookup(CozystackOperator)
	require.NoError(t, err)
	assert.Equal(t, values.CozystackOperator.Image, op.Upstream, "the installer chart's default operator image")
}

func TestCheckStaticRejectsADynamicBinary(t *testing.T) {
	sh, err := filepath.EvalSymlinks("/bin/sh")
	require.NoError(t, err, "this test reads /bin/sh, a dynamically linked program on every Linux this runs on")
	assert.ErrorContains(t, checkStatic(sh), "build it with CGO_ENABLED=0")

	notELF := filepath.Join(t.TempDir(), "script")
	require.NoError(t, os.WriteFile(notELF, []byte("#!/bin/sh\n"), 0o755))
	assert.ErrorContains(t, checkStatic(notELF), "read binary "+notELF)
}

func TestLabImagesAreInTheCatalog(t *testing.T) {
	for _, n := range LabImages() {
		_, err := Lookup(n)
		assert.NoError(t, err, n)
	}
	assert.NotContains(t, LabImages(), CozystackOperator, "the e2e pushes the operator it tests")
}
