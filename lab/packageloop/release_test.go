package packageloop

import (
	"bytes"
	"strings"
	"testing"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestShortenName(t *testing.T) {
	short := strings.Repeat("a", 53)
	assert.Equal(t, short, ShortenName(short), "53 characters stay")
	long := strings.Repeat("a", 54)
	got := ShortenName(long)
	// sha256 of 54 "a": printf 'a%.0s' {1..54} | tr -d '\n' | sha256sum
	assert.Equal(t, strings.Repeat("a", 40)+"-"+"a3f01b693925", got)
	assert.Len(t, got, 53)
}

func TestTargetOf(t *testing.T) {
	tests := []struct {
		name string
		spec helmv2.HelmReleaseSpec
		want Target
	}{
		{"defaults", helmv2.HelmReleaseSpec{}, Target{"app", "ns", "ns"}},
		{"target namespace prefixes the name", helmv2.HelmReleaseSpec{TargetNamespace: "tgt"}, Target{"tgt-app", "tgt", "ns"}},
		{"release name wins", helmv2.HelmReleaseSpec{ReleaseName: "rel", TargetNamespace: "tgt", StorageNamespace: "store"}, Target{"rel", "tgt", "store"}},
		{"long names are shortened", helmv2.HelmReleaseSpec{TargetNamespace: strings.Repeat("n", 50)},
			Target{ShortenName(strings.Repeat("n", 50) + "-app"), strings.Repeat("n", 50), "ns"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}, Spec: tt.spec}
			assert.Equal(t, tt.want, TargetOf(hr))
		})
	}
}

func TestOriginLabels(t *testing.T) {
	hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: "ns"}}
	in := bytes.NewBufferString(`---
# Source: c/templates/a.yaml
apiVersion: v1
kind: ConfigMap
metadata:
  name: a
  labels:
    helm.toolkit.fluxcd.io/name: wrong
    keep: me
---
# Source: c/templates/empty.yaml
---
apiVersion: v1
kind: Secret
metadata:
  name: b
`)
	out, err := labeler{labels: OriginLabels(hr)}.Run(in)
	require.NoError(t, err)
	objs, err := parseObjects(out.String())
	require.NoError(t, err)
	require.Len(t, objs, 2)
	assert.Contains(t, out.String(), "---\n# Source: c/templates/a.yaml\napiVersion: v1\n")
	assert.Equal(t, map[string]string{LabelOriginName: "app", LabelOriginNamespace: "ns", "keep": "me"}, objs[0].GetLabels())
	assert.Equal(t, map[string]string{LabelOriginName: "app", LabelOriginNamespace: "ns"}, objs[1].GetLabels())
}

func TestOpenNamesWhatIsMissing(t *testing.T) {
	_, err := Show(t.Context(), Options{ChartDir: t.TempDir()})
	require.EqualError(t, err, "no HelmRelease named: set NAME and NAMESPACE (in the chart's Makefile or the environment)")
	t.Setenv("KUBECONFIG", t.TempDir()+"/absent")
	_, err = Show(t.Context(), Options{ChartDir: "testdata/demo", Name: "demo", Namespace: "ns"})
	require.ErrorContains(t, err, "no kubeconfig: set KUBECONFIG")
}
