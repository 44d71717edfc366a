//go:build integration

package local

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
)

// TestClusterRunsWorkloadsOnSimulatedNodes starts the whole local cluster: pods of a Deployment
// (requesting ephemeral-storage) are scheduled onto the kwok nodes and run; a Job's pod completes (how Helm hooks finish).
func TestClusterRunsWorkloadsOnSimulatedNodes(t *testing.T) {
	ctx := context.Background()
	rec := &progress.Recorder{}
	c, err := StartCluster(ctx, ClusterOptions{Root: filepath.Join(t.TempDir(), "cp"), Progress: rec})
	require.NoError(t, err)
	pids := c.Pids()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			assert.NoError(t, c.Stop(ctx))
		}
	})
	cs := kubernetes.NewForConfigOrDie(c.RESTConfig())
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, nodes.Items, 3)
	for _, n := range nodes.Items {
		assert.True(t, nodeReady(&n), n.Name)
		assert.Equal(t, "24Gi", n.Status.Capacity.Memory().String())
		assert.Equal(t, "100Gi", n.Status.Capacity.StorageEphemeral().String(), "a pod requesting ephemeral-storage can be scheduled")
	}
	assert.Contains(t, rec.Statuses("Starting kwok and 3 simulated nodes"), "nodes Ready 3/3")

	two := int32(2)
	labels := map[string]string{"app": "web"}
	_, err = cs.AppsV1().Deployments("default").Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{Replicas: &two, Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				// A request for ephemeral-storage, as many charts make: it stays Pending on a
				// node that declares none.
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.k8s.io/pause:3.10",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
						corev1.ResourceEphemeralStorage: resource.MustParse("1Gi")}}}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		d, err := cs.AppsV1().Deployments("default").Get(ctx, "web", metav1.GetOptions{})
		return err == nil && d.Status.AvailableReplicas == 2
	}, 60*time.Second, 200*time.Millisecond, "Deployment web available on kwok nodes (needs scheduler, controller-manager and kwok)")

	_, err = cs.BatchV1().Jobs("default").Create(ctx, &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "hook"},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever,
			Containers: []corev1.Container{{Name: "hook", Image: "registry.k8s.io/pause:3.10"}}}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		j, err := cs.BatchV1().Jobs("default").Get(ctx, "hook", metav1.GetOptions{})
		return err == nil && j.Status.Succeeded == 1
	}, 60*time.Second, 200*time.Millisecond, "Job completed by kwok")

	require.NoError(t, c.Stop(ctx))
	stopped = true
	require.Len(t, pids, 4, "etcd, kube-apiserver, kube-controller-manager, kube-scheduler")
	for _, pid := range append(pids, c.kwok.Pid()) {
		assert.False(t, process.Alive(pid), "pid %d survived Stop", pid)
	}
}
