package sandbox

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
)

func TestParseNodeSelector(t *testing.T) {
	got, err := ParseNodeSelector(" kvm=true, zone=a ")
	require.NoError(t, err)
	assert.Equal(t, map[string]string{"kvm": "true", "zone": "a"}, got)
	got, err = ParseNodeSelector("")
	require.NoError(t, err)
	assert.Nil(t, got)
	_, err = ParseNodeSelector("kvm")
	assert.EqualError(t, err, `SANDBOX_NODE_SELECTOR: "kvm" is not key=value`)
}

func TestParseTolerations(t *testing.T) {
	got, err := ParseTolerations("gpu=yes:NoSchedule, dedicated:NoExecute,*")
	require.NoError(t, err)
	assert.Equal(t, []corev1.Toleration{
		{Key: "gpu", Operator: corev1.TolerationOpEqual, Value: "yes", Effect: corev1.TaintEffectNoSchedule},
		{Key: "dedicated", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute},
		{Operator: corev1.TolerationOpExists},
	}, got)
	_, err = ParseTolerations("gpu:Sometimes")
	assert.EqualError(t, err, `SANDBOX_TOLERATIONS: "gpu:Sometimes": effect "Sometimes" is not NoSchedule, PreferNoSchedule or NoExecute`)
	_, err = ParseTolerations("=x:NoSchedule")
	assert.ErrorContains(t, err, "want key=value:Effect")
}

// TestInsecure: plain HTTP only for a lab-like registry (loopback, private address, localhost),
// never for one named publicly.
func TestInsecure(t *testing.T) {
	for reg, want := range map[string]bool{
		"10.213.0.1:5000/cozylab": true, "127.0.0.1:5000": true, "localhost:5000/x": true, "192.168.1.2": true,
		"ghcr.io/me": false, "registry.example.com:5000/team": false, "8.8.8.8:5000": false,
	} {
		assert.Equal(t, want, Insecure(reg), reg)
	}
}
