package platform

import (
	"testing"

	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

func TestSourceKind(t *testing.T) {
	for url, want := range map[string]string{
		"oci://ghcr.io/cozystack/packages": KindOCIRepository,
		"  oci://x/y  ":                    KindOCIRepository,
		"https://github.com/x/y":           KindGitRepository,
		"http://git.local/x":               KindGitRepository,
		"ssh://git@github.com/x/y":         KindGitRepository,
	} {
		got, err := SourceKind(url)
		require.NoError(t, err, url)
		assert.Equal(t, want, got, url)
	}
	_, err := SourceKind("")
	require.ErrorContains(t, err, "--platform-source-url is empty")
	_, err = SourceKind("ftp://x")
	require.ErrorContains(t, err, `--platform-source-url "ftp://x": unsupported scheme`)
}

func TestParseRef(t *testing.T) {
	tests := []struct {
		name, kind, ref string
		want            map[string]string
		err             string
	}{
		{name: "empty", kind: KindOCIRepository, ref: "  ", want: map[string]string{}},
		{name: "single", kind: KindOCIRepository, ref: "tag=v1.0", want: map[string]string{"tag": "v1.0"}},
		{name: "multiple with whitespace", kind: KindGitRepository, ref: " branch = main , tag=v1 ", want: map[string]string{"branch": "main", "tag": "v1"}},
		{name: "equals in value", kind: KindGitRepository, ref: "name=refs/x=y", want: map[string]string{"name": "refs/x=y"}},
		{name: "trailing comma", kind: KindOCIRepository, ref: "tag=v1,", want: map[string]string{"tag": "v1"}},
		{name: "later key wins", kind: KindOCIRepository, ref: "tag=a,tag=b", want: map[string]string{"tag": "b"}},
		{name: "digest", kind: KindOCIRepository, ref: "digest=sha256:abc", want: map[string]string{"digest": "sha256:abc"}},
		{name: "missing equals", kind: KindOCIRepository, ref: "tag", err: `"tag" is not key=value`},
		{name: "empty key", kind: KindOCIRepository, ref: "=v", err: "is not key=value"},
		{name: "empty value", kind: KindOCIRepository, ref: "tag=", err: "is not key=value"},
		{name: "unknown oci key", kind: KindOCIRepository, ref: "branch=main", err: `unknown key "branch" for an OCIRepository, valid keys: digest, semver, semverFilter, tag`},
		{name: "unknown git key", kind: KindGitRepository, ref: "digest=sha256:x", err: `unknown key "digest" for an GitRepository`},
		{name: "digest prefix", kind: KindOCIRepository, ref: "digest=md5:abc", err: "must start with sha256:"},
		{name: "short commit", kind: KindGitRepository, ref: "commit=abc12", err: "at least 7 hexadecimal"},
		{name: "non-hex commit", kind: KindGitRepository, ref: "commit=zzzzzzzz", err: "at least 7 hexadecimal"},
		{name: "good commit", kind: KindGitRepository, ref: "commit=abcdef0", want: map[string]string{"commit": "abcdef0"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseRef(tt.kind, tt.ref)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				assert.Contains(t, err.Error(), "--platform-source-ref")
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestSourceObjects(t *testing.T) {
	obj, err := Source(SourceOptions{URL: "oci://r/p", Name: "cozystack-platform"})
	require.NoError(t, err)
	oci := obj.(*sourcev1.OCIRepository)
	assert.Equal(t, "cozy-system", oci.Namespace)
	assert.Equal(t, SourceInterval, oci.Spec.Interval.Duration)
	assert.Nil(t, oci.Spec.Reference, "no ref keys, no ref")
	assert.Nil(t, oci.Spec.SecretRef)

	obj, err = Source(SourceOptions{URL: "oci://r/p", Name: "p", Secret: "pull", Ref: map[string]string{"digest": "sha256:1", "tag": "v2"}})
	require.NoError(t, err)
	oci = obj.(*sourcev1.OCIRepository)
	assert.Equal(t, "sha256:1", oci.Spec.Reference.Digest)
	assert.Equal(t, "v2", oci.Spec.Reference.Tag)
	assert.Equal(t, "pull", oci.Spec.SecretRef.Name)

	obj, err = Source(SourceOptions{URL: "https://g/x", Name: "p", Ref: map[string]string{"branch": "main", "commit": "abcdef01"}})
	require.NoError(t, err)
	git := obj.(*sourcev1.GitRepository)
	assert.Equal(t, "main", git.Spec.Reference.Branch)
	assert.Equal(t, "abcdef01", git.Spec.Reference.Commit)

	_, err = Source(SourceOptions{URL: "oci://r/p", Name: "p", Ref: map[string]string{"branch": "x"}})
	require.Error(t, err, "a ref that was not parsed for this kind is refused")
}

func TestPlatformPackageSource(t *testing.T) {
	ps := PackageSource("cozystack-platform", KindOCIRepository)
	assert.Equal(t, "cozystack.cozystack-platform", ps.Name)
	assert.Equal(t, "true", ps.Annotations[v1alpha1.AnnotationSkipValues])
	assert.Equal(t, &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "cozystack-platform", Namespace: "cozy-system", Path: "/"}, ps.Spec.SourceRef)
	want := map[string][]string{
		"default":          {"values.yaml"},
		"isp-full":         {"values.yaml", "values-isp-full.yaml"},
		"isp-hosted":       {"values.yaml", "values-isp-hosted.yaml"},
		"isp-full-generic": {"values.yaml", "values-isp-full-generic.yaml"},
	}
	require.Len(t, ps.Spec.Variants, 4)
	for _, v := range ps.Spec.Variants {
		require.Len(t, v.Components, 1)
		c := v.Components[0]
		assert.Equal(t, "platform", c.Name)
		assert.Equal(t, "core/platform", c.Path)
		assert.Equal(t, want[v.Name], c.ValuesFiles, v.Name)
		assert.Equal(t, &v1alpha1.ComponentInstall{Namespace: "cozy-system", ReleaseName: "cozystack-platform"}, c.Install)
	}
	assert.Equal(t, "cozystack.custom", PackageSource("custom", KindGitRepository).Name)
	assert.Equal(t, "GitRepository", PackageSource("custom", KindGitRepository).Spec.SourceRef.Kind)
}

func TestSourceInsecure(t *testing.T) {
	obj, err := Source(SourceOptions{URL: "oci://127.0.0.1:5000/packages", Name: "cozystack-platform", Insecure: true})
	require.NoError(t, err)
	assert.True(t, obj.(*sourcev1.OCIRepository).Spec.Insecure, "a lab's plain-HTTP registry needs spec.insecure")
	obj, err = Source(SourceOptions{URL: "oci://ghcr.io/x/packages", Name: "cozystack-platform"})
	require.NoError(t, err)
	assert.False(t, obj.(*sourcev1.OCIRepository).Spec.Insecure)
}

func TestVariantNamesMatchTheAPI(t *testing.T) {
	assert.Equal(t, v1alpha1.PlatformVariants, VariantNames())
}
