package qemu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func node(name string, conds ...corev1.NodeCondition) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}, Status: corev1.NodeStatus{Conditions: conds}}
}

func TestNodeProblemsNameEachNodeNotReady(t *testing.T) {
	want := NodeNames(NodeCount)
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue}
	notReady := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionFalse, Reason: "KubeletNotReady",
		Message: "container runtime network not ready: NetworkReady=false"}

	assert.Equal(t, []nodeProblem{{"srv1", "not registered"}, {"srv2", "not registered"}, {"srv3", "not registered"}},
		nodeProblems(want, map[string]*corev1.Node{}), "a twin without a kubelet never registers")

	got := nodeProblems(want, map[string]*corev1.Node{
		"srv1": node("srv1", ready),
		"srv2": node("srv2", notReady),
		"srv3": node("srv3"),
	})
	require.Len(t, got, 2)
	assert.Equal(t, "srv2: NotReady (KubeletNotReady): container runtime network not ready: NetworkReady=false", got[0].String())
	assert.Equal(t, "srv3: registered, no Ready condition yet", got[1].String())

	assert.Empty(t, nodeProblems(want, map[string]*corev1.Node{"srv1": node("srv1", ready), "srv2": node("srv2", ready), "srv3": node("srv3", ready)}))
}

// Without a Talos client (the API never answered), the hint still names the serial log.
func TestNodeHintNamesTheSerialLog(t *testing.T) {
	l := &lab{Dir: "/var/lib/labs/qtest"}
	assert.Equal(t, " (see its serial log /var/lib/labs/qtest/nodes/srv2/serial.log)", l.nodeHint(t.Context(), "srv2"))
}

func TestPodState(t *testing.T) {
	for name, tc := range map[string]struct {
		pod  corev1.Pod
		want string
	}{
		"unschedulable": {corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-1"}, Status: corev1.PodStatus{Phase: corev1.PodPending,
			Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Message: "0/3 nodes are available"}}}},
			"pod coredns-1 not scheduled: Pending (0/3 nodes are available)"},
		"pulling fails": {corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-1"}, Spec: corev1.PodSpec{NodeName: "srv2"},
			Status: corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "coredns",
				State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: "not found"}}}}}},
			"pod coredns-1 on srv2: Pending (container coredns ImagePullBackOff: not found)"},
		"running": {corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "coredns-1"}, Spec: corev1.PodSpec{NodeName: "srv1"},
			Status: corev1.PodStatus{Phase: corev1.PodRunning}}, "pod coredns-1 on srv1: Running"},
	} {
		t.Run(name, func(t *testing.T) { assert.Equal(t, tc.want, podState(&tc.pod)) })
	}
}

func TestClusterDNSOfABadConfig(t *testing.T) {
	_, err := ClusterDNS([]byte("not: a: config"))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "read machine config")
}

// A service's log is saved as <service>.log: an id that is no file name is not read.
func TestSafeServiceID(t *testing.T) {
	for _, id := range []string{"kubelet", "kube-proxy", "containerd", "etcd"} {
		assert.True(t, safeServiceID(id), id)
	}
	for _, id := range []string{"", ".", "..", "../etc", `a\b`} {
		assert.False(t, safeServiceID(id), id)
	}
}
