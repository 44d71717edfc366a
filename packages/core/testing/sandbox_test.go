package sandbox_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cozylab/cozylab/packages/internal/charttest"
)

func render(t *testing.T, values map[string]any) []*unstructured.Unstructured {
	t.Helper()
	objs, err := charttest.Render(".", charttest.Options{ReleaseName: "lab", Namespace: "cozy-sandbox", Values: values})
	require.NoError(t, err)
	return objs
}

func object[T any](t *testing.T, objs []*unstructured.Unstructured, kind string) *T {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind {
			out := new(T)
			require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(o.Object, out))
			return out
		}
	}
	t.Fatalf("no %s rendered", kind)
	return nil
}

func TestSandboxRunsQEMUWithKVMAndKeepsTheLab(t *testing.T) {
	objs := render(t, nil)
	ns := object[corev1.Namespace](t, objs, "Namespace")
	assert.Equal(t, "privileged", ns.Labels["pod-security.kubernetes.io/enforce"])

	pvc := object[corev1.PersistentVolumeClaim](t, objs, "PersistentVolumeClaim")
	assert.Equal(t, resource.MustParse("200Gi"), pvc.Spec.Resources.Requests[corev1.ResourceStorage])
	assert.Equal(t, "keep", pvc.Annotations["helm.sh/resource-policy"])

	d := object[appsv1.Deployment](t, objs, "Deployment")
	assert.Equal(t, int32(1), *d.Spec.Replicas)
	assert.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Spec.Strategy.Type)
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	require.NotNil(t, c.SecurityContext)
	assert.True(t, *c.SecurityContext.Privileged)

	volumes := map[string]corev1.Volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	kvm := volumes[mounts["/dev/kvm"]]
	require.NotNil(t, kvm.HostPath, "/dev/kvm comes from the node")
	assert.Equal(t, "/dev/kvm", kvm.HostPath.Path)
	assert.Equal(t, corev1.HostPathCharDev, *kvm.HostPath.Type)
	state := volumes[mounts["/var/lib/cozylab"]]
	require.NotNil(t, state.PersistentVolumeClaim, "the lab state dir is on the claim")
	assert.Equal(t, pvc.Name, state.PersistentVolumeClaim.ClaimName)
	assert.Contains(t, c.Env, corev1.EnvVar{Name: "KUBECONFIG", Value: "/var/lib/cozylab/kubeconfig"})
	assert.Equal(t, resource.MustParse("16Gi"), c.Resources.Requests[corev1.ResourceMemory])
}

func TestSandboxValues(t *testing.T) {
	objs := render(t, map[string]any{
		"namespace": map[string]any{"create": false},
		"stateDir":  "/lab", "kvm": false, "image": "example.org/sandbox:v1",
		"persistence": map[string]any{"size": "50Gi", "storageClassName": "local", "keep": false},
		"resources":   map[string]any{"requests": map[string]any{"cpu": "2", "memory": "4Gi"}},
	})
	for _, o := range objs {
		assert.NotEqual(t, "Namespace", o.GetKind())
	}
	pvc := object[corev1.PersistentVolumeClaim](t, objs, "PersistentVolumeClaim")
	assert.Equal(t, "local", *pvc.Spec.StorageClassName)
	assert.Equal(t, resource.MustParse("50Gi"), pvc.Spec.Resources.Requests[corev1.ResourceStorage])
	assert.Empty(t, pvc.Annotations)
	c := object[appsv1.Deployment](t, objs, "Deployment").Spec.Template.Spec.Containers[0]
	assert.Equal(t, "example.org/sandbox:v1", c.Image)
	assert.Equal(t, resource.MustParse("2"), c.Resources.Requests[corev1.ResourceCPU])
	for _, m := range c.VolumeMounts {
		assert.NotEqual(t, "/dev/kvm", m.MountPath, "kvm=false mounts no /dev/kvm")
	}
	assert.Contains(t, c.VolumeMounts, corev1.VolumeMount{Name: "state", MountPath: "/lab"})
}

func TestSandboxSchemaRefuses(t *testing.T) {
	cases := map[string]struct {
		values map[string]any
		want   string // the field the message names
	}{
		"latest image":      {map[string]any{"image": "example.org/sandbox:latest"}, "'/image'"},
		"relative stateDir": {map[string]any{"stateDir": "lab"}, "'/stateDir'"},
		"size without unit": {map[string]any{"persistence": map[string]any{"size": "100"}}, "'/persistence/size'"},
		"bad memory":        {map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "lots"}}}, "'/resources/limits/memory'"},
		"unknown key":       {map[string]any{"replicas": 2}, "'replicas'"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := charttest.Render(".", charttest.Options{ReleaseName: "lab", Namespace: "cozy-sandbox", Values: c.values})
			require.Error(t, err)
			assert.Contains(t, err.Error(), "values don't meet the specifications of the schema")
			assert.Contains(t, err.Error(), c.want)
		})
	}
}
