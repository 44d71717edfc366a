package clusterdns

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// The Corefile the local lab has always served, for cluster.local.
const defaultCorefile = `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loop
    loadbalance
}
`

func TestCorefile(t *testing.T) {
	assert.Equal(t, defaultCorefile, Corefile(nil))
	assert.Contains(t, Corefile([]string{"cozy.local", "cluster.local"}), "    kubernetes cozy.local cluster.local in-addr.arpa ip6.arpa {\n")
	assert.NotContains(t, Corefile(nil), "forward", "the lab has no upstream")
}

func find[T client.Object](t *testing.T, objs []client.Object) T {
	t.Helper()
	for _, o := range objs {
		if v, ok := o.(T); ok {
			return v
		}
	}
	var zero T
	require.Failf(t, "no object", "%T", zero)
	return zero
}

func TestObjects(t *testing.T) {
	ip := netip.MustParseAddr("10.96.0.10")
	t.Run("every node runs pods: no pin", func(t *testing.T) {
		objs := Objects(Options{Image: "registry.k8s.io/coredns/coredns:v1.12.0", ServiceIP: ip, Domains: []string{"cozy.local", "cluster.local"}})
		require.Len(t, objs, 6)
		svc := find[*corev1.Service](t, objs)
		assert.Equal(t, "kube-dns", svc.Name)
		assert.Equal(t, "kube-system", svc.Namespace)
		assert.Equal(t, "10.96.0.10", svc.Spec.ClusterIP)
		dep := find[*appsv1.Deployment](t, objs)
		pod := dep.Spec.Template.Spec
		assert.Empty(t, pod.NodeSelector)
		assert.Empty(t, pod.Tolerations)
		assert.Equal(t, "registry.k8s.io/coredns/coredns:v1.12.0", pod.Containers[0].Image)
		assert.Equal(t, svc.Spec.Selector, dep.Spec.Template.Labels)
		assert.Contains(t, find[*corev1.ConfigMap](t, objs).Data["Corefile"], "kubernetes cozy.local cluster.local ")
	})
	t.Run("pinned", func(t *testing.T) {
		objs := Objects(Options{Image: "x", ServiceIP: ip, Place: func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{"real": "true"} }})
		assert.Equal(t, map[string]string{"real": "true"}, find[*appsv1.Deployment](t, objs).Spec.Template.Spec.NodeSelector)
		assert.Equal(t, defaultCorefile, find[*corev1.ConfigMap](t, objs).Data["Corefile"])
	})
}

func TestDeploymentAvailable(t *testing.T) {
	avail := appsv1.DeploymentCondition{Type: appsv1.DeploymentAvailable, Status: corev1.ConditionTrue}
	for name, tc := range map[string]struct {
		d    appsv1.Deployment
		want string
	}{
		"available": {appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)},
			Status: appsv1.DeploymentStatus{ObservedGeneration: 2, UpdatedReplicas: 1, AvailableReplicas: 1, Conditions: []appsv1.DeploymentCondition{avail}}}, ""},
		"not observed": {appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Generation: 2}, Status: appsv1.DeploymentStatus{ObservedGeneration: 1}},
			"generation 2 not observed yet"},
		"no replica yet": {appsv1.Deployment{Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1)}}, "0 of 1 replicas available"},
	} {
		t.Run(name, func(t *testing.T) {
			err := deploymentAvailable(&tc.d)
			if tc.want == "" {
				assert.NoError(t, err)
				return
			}
			assert.EqualError(t, err, tc.want)
		})
	}
}

func TestApplyRefusesMissingOptions(t *testing.T) {
	err := Apply(t.Context(), nil, Options{Image: "x"})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "Service IP")
}
