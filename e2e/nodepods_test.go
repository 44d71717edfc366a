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
