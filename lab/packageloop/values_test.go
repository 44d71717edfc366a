package packageloop

import (
	"context"
	"testing"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/fluxcd/pkg/apis/meta"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"helm.sh/helm/v3/pkg/chart/loader"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

func TestCompose(t *testing.T) {
	objs := []corev1.ConfigMap{
		{ObjectMeta: metav1.ObjectMeta{Name: "base", Namespace: "ns"}, Data: map[string]string{
			"values.yaml": "a: from-base\nb: {p: 1, q: 1}\nc: from-base\n",
		}},
	}
	secret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "creds", Namespace: "ns"}, Data: map[string][]byte{
		"token":  []byte("s3cr3t"),
		"port":   []byte("8080"),
		"quoted": []byte(`"8080"`),
	}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(&objs[0], secret).Build()

	tests := []struct {
		name   string
		from   []meta.ValuesReference
		values string
		want   map[string]any
		err    string
	}{{
		name: "no references, no values",
		want: map[string]any{},
	}, {
		name: "valuesFrom in order, targetPath, optional missing, spec.values wins",
		from: []meta.ValuesReference{
			{Kind: "ConfigMap", Name: "base"},
			{Kind: "Secret", Name: "creds", ValuesKey: "token", TargetPath: "b.token"},
			{Kind: "Secret", Name: "creds", ValuesKey: "port", TargetPath: "b.port"},
			{Kind: "Secret", Name: "creds", ValuesKey: "quoted", TargetPath: "b.quoted"},
			{Kind: "ConfigMap", Name: "absent", Optional: true},
			{Kind: "Secret", Name: "creds", ValuesKey: "absent-key", Optional: true},
		},
		values: `{"a": "from-spec", "b": {"q": 2}}`,
		want: map[string]any{
			"a": "from-spec",
			"b": map[string]any{"p": float64(1), "q": float64(2), "token": "s3cr3t", "port": int64(8080), "quoted": "8080"},
			"c": "from-base",
		},
	}, {
		name: "a later reference overrides an earlier one",
		from: []meta.ValuesReference{
			{Kind: "ConfigMap", Name: "base"},
			{Kind: "Secret", Name: "creds", ValuesKey: "token", TargetPath: "a"},
		},
		want: map[string]any{"a": "s3cr3t", "b": map[string]any{"p": float64(1), "q": float64(1)}, "c": "from-base"},
	}, {
		name: "a missing reference that is not optional fails",
		from: []meta.ValuesReference{{Kind: "ConfigMap", Name: "absent"}},
		err:  "ConfigMap ns/absent key values.yaml: not found",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "ns"}}
			hr.Spec.ValuesFrom = tt.from
			if tt.values != "" {
				hr.Spec.Values = &apiextensionsv1.JSON{Raw: []byte(tt.values)}
			}
			got, err := Compose(context.Background(), c, hr)
			if tt.err != "" {
				require.ErrorContains(t, err, tt.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

func TestApplyValuesFiles(t *testing.T) {
	ch, err := loader.Load("testdata/demo")
	require.NoError(t, err)
	hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{
		Annotations: map[string]string{v1alpha1.AnnotationValuesFiles: "values.yaml, values-big.yaml"},
	}}
	files := ValuesFiles(hr)
	require.Equal(t, []string{"values.yaml", "values-big.yaml"}, files)
	require.NoError(t, ApplyValuesFiles(ch, "testdata/demo", files))
	assert.Equal(t, float64(3), ch.Values["replicas"], "a later values file overrides the first")
	assert.Equal(t, "hello", ch.Values["greeting"], "keys of the first file stay")
}

func TestApplyValuesFilesFirstReplacesChartValues(t *testing.T) {
	ch, err := loader.Load("testdata/demo")
	require.NoError(t, err)
	require.NoError(t, ApplyValuesFiles(ch, "testdata/demo", []string{"values-big.yaml"}))
	assert.Equal(t, map[string]any{"replicas": float64(3)}, ch.Values)
}
