package migrate

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func versionCM(data map[string]string) *corev1.ConfigMap {
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "cozy-system", Name: VersionConfigMap}, Data: data}
}

func TestParseVersion(t *testing.T) {
	for _, tc := range []struct {
		name string
		data map[string]string
		want int
		err  string
	}{
		{name: "plain", data: map[string]string{"version": "42"}, want: 42},
		{name: "zero", data: map[string]string{"version": "0"}, want: 0},
		{name: "surrounding whitespace", data: map[string]string{"version": " 7\n"}, want: 7},
		{name: "not a number", data: map[string]string{"version": "v1.2"},
			err: `read version from ConfigMap cozy-system/cozystack-version: data.version is "v1.2", not a non-negative integer; set it to the platform version the cluster runs`},
		{name: "empty", data: map[string]string{"version": ""}, err: `data.version is "", not a non-negative integer`},
		{name: "negative", data: map[string]string{"version": "-3"}, err: `data.version is "-3", not a non-negative integer`},
		{name: "fraction", data: map[string]string{"version": "4.5"}, err: `data.version is "4.5"`},
		{name: "missing key", data: map[string]string{"other": "1"},
			err: "read version from ConfigMap cozy-system/cozystack-version: data.version is missing; set it to the platform version the cluster runs"},
		{name: "no data", data: nil, err: "data.version is missing"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parseVersion(versionCM(tc.data))
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMarkVersionKeepsOtherMetadata(t *testing.T) {
	cm := versionCM(map[string]string{"version": "1", "note": "kept"})
	cm.Labels = map[string]string{"team": "platform"}
	cm.Annotations = map[string]string{"meta.helm.sh/release-name": "cozystack-platform"}
	markVersion(cm, 2)
	assert.Equal(t, map[string]string{"version": "2", "note": "kept"}, cm.Data)
	assert.Equal(t, map[string]string{"team": "platform", "platform.cozystack.io/no-delete": "true"}, cm.Labels)
	assert.Equal(t, map[string]string{"meta.helm.sh/release-name": "cozystack-platform", "helm.sh/resource-policy": "keep"}, cm.Annotations)

	fresh := versionCM(nil)
	markVersion(fresh, 3)
	assert.Equal(t, "3", fresh.Data["version"])
	assert.Equal(t, "true", fresh.Labels["platform.cozystack.io/no-delete"])
	assert.Equal(t, "keep", fresh.Annotations["helm.sh/resource-policy"])
}
