package flux

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
)

// Every controller's probes give a starved node time to answer and a slow start time to open
// its port: a liveness probe with the default one-second timeout, and one that began with the
// container, restarted controllers on TCG guests while they started.
func TestProbesTolerateASlowNode(t *testing.T) {
	var dep *appsv1.Deployment
	for _, o := range Objects() {
		if d, ok := o.(*appsv1.Deployment); ok {
			dep = d
		}
	}
	require.NotNil(t, dep)
	require.Len(t, dep.Spec.Template.Spec.Containers, 5)
	for _, c := range dep.Spec.Template.Spec.Containers {
		for name, p := range map[string]int32{"readiness": c.ReadinessProbe.TimeoutSeconds, "liveness": c.LivenessProbe.TimeoutSeconds} {
			assert.GreaterOrEqual(t, p, int32(ProbeTimeoutSeconds), "%s's %s probe timeout", c.Name, name)
		}
		st := c.StartupProbe
		require.NotNil(t, st, "%s has a startup probe: liveness waits until it passed", c.Name)
		assert.Equal(t, "/healthz", st.HTTPGet.Path)
		assert.GreaterOrEqual(t, st.PeriodSeconds*st.FailureThreshold, int32(StartupSeconds), "%s may take %d s to open its health port", c.Name, StartupSeconds)
		lv := c.LivenessProbe
		assert.GreaterOrEqual(t, lv.PeriodSeconds*lv.FailureThreshold, int32(30), "%s is killed only after 30 s without an answer", c.Name)
		assert.Equal(t, "/healthz", lv.HTTPGet.Path)
		assert.Equal(t, "/readyz", c.ReadinessProbe.HTTPGet.Path)
		assert.Equal(t, controllerPorts[c.Name].health, lv.HTTPGet.Port.IntVal)
	}
}
