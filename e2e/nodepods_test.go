package e2e

import (
	"testing"

	"github.com/stretchr/testify/assert"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestPodProblem(t *testing.T) {
	job := []metav1.OwnerReference{{Kind: "Job", Name: "hook", Controller: ptr.To(true)}}
	running := corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	for name, tc := range map[string]struct {
		pod     corev1.Pod
		problem string
		stuck   bool
	}{
		"running and ready":        {corev1.Pod{Status: running}, "", false},
		"succeeded":                {corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, "", false},
		"a Job's failed attempt":   {corev1.Pod{ObjectMeta: metav1.ObjectMeta{OwnerReferences: job}, Status: corev1.PodStatus{Phase: corev1.PodFailed}}, "", false},
		"a pod of its own, failed": {corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodFailed}}, "phase Failed", true},
		"pending":                  {corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodPending}}, "phase Pending", false},
		"crash loop": {corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", Image: "x:1", State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off"}}}}}},
			"container app: CrashLoopBackOff: image x:1: back-off", true},
		"not ready yet": {corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse, Message: "probe"}}}},
			"not Ready: probe", false},
	} {
		t.Run(name, func(t *testing.T) {
			problem, stuck := podProblem(&tc.pod)
			assert.Equal(t, tc.problem, problem)
			assert.Equal(t, tc.stuck, stuck)
		})
	}
}

// On an emulated lab a restarted container is tolerated (said by the caller), a crash loop is not,
// and a restarted container beside a crash-looping one does not hide it.
func TestPodProblemToleratingRestarts(t *testing.T) {
	ready := []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	restarted := corev1.ContainerStatus{Name: "a", RestartCount: 1, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
	looping := corev1.ContainerStatus{Name: "b", Image: "x:1", RestartCount: 3,
		State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff", Message: "back-off"}}}

	pod := &corev1.Pod{Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: ready, ContainerStatuses: []corev1.ContainerStatus{restarted}}}
	problem, stuck := podProblem(pod)
	assert.Equal(t, "container a restarted 1 times", problem)
	assert.True(t, stuck)
	problem, _ = podProblemOf(pod, true)
	assert.Empty(t, problem, "a restart alone is tolerated")
	assert.Equal(t, "container a restarted 1 times", restarts(pod))

	pod.Status.ContainerStatuses = append(pod.Status.ContainerStatuses, looping)
	problem, stuck = podProblemOf(pod, true)
	assert.Equal(t, "container b: CrashLoopBackOff: image x:1: back-off", problem)
	assert.True(t, stuck, "a crash loop still fails")
}

// The nodes whose pods really run: the local lab's real node beside kwok's simulated ones, every
// twin of a QEMU lab, none in a kwok-only lab.
func TestRunningNodes(t *testing.T) {
	kwok := func(name string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Annotations: map[string]string{"kwok.x-k8s.io/node": "fake"}}}
	}
	real := func(name string, labels map[string]string) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	}
	for name, tc := range map[string]struct {
		nodes []corev1.Node
		want  []string
	}{
		"local lab":       {[]corev1.Node{kwok("srv1"), real("node1", map[string]string{"cozylab.io/real-node": "true"}), kwok("srv2"), kwok("srv3")}, []string{"node1"}},
		"kwok-only lab":   {[]corev1.Node{kwok("srv1"), kwok("srv2"), kwok("srv3")}, nil},
		"QEMU lab":        {[]corev1.Node{real("srv3", nil), real("srv1", nil), real("srv2", nil)}, []string{"srv1", "srv2", "srv3"}},
		"no nodes at all": {nil, nil},
	} {
		t.Run(name, func(t *testing.T) { assert.Equal(t, tc.want, runningNodes(tc.nodes)) })
	}
}
