//go:build integration

package qemu

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/clusterdns"
)

// apiLab is a lab whose kubeconfig is a real API server's (no VM: the Node objects stand for
// the kubelets' registrations).
func apiLab(t *testing.T) (*lab, client.Client) {
	t.Helper()
	cp := cptest.Start(t)
	l := &lab{Dir: filepath.Dir(cp.Kubeconfig), Progress: progress.Discard}
	require.Equal(t, filepath.Join(l.Dir, "kubeconfig"), cp.Kubeconfig)
	c, err := l.kubeClient()
	require.NoError(t, err)
	return l, c
}

// registerNode creates node name as its kubelet would, Ready or not.
func registerNode(t *testing.T, c client.Client, name string, ready corev1.ConditionStatus) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	require.NoError(t, c.Create(t.Context(), n))
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, Reason: "KubeletNotReady",
		Message: "container runtime network not ready", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}}
	if ready == corev1.ConditionTrue {
		n.Status.Conditions[0].Reason, n.Status.Conditions[0].Message = "KubeletReady", "kubelet is posting ready status"
	}
	require.NoError(t, c.Status().Update(t.Context(), n))
}

func TestWaitForNodes(t *testing.T) {
	l, c := apiLab(t)
	old := nodesReadyTimeout
	t.Cleanup(func() { nodesReadyTimeout = old })
	nodesReadyTimeout = 3 * time.Second

	registerNode(t, c, "srv1", corev1.ConditionTrue)
	registerNode(t, c, "srv2", corev1.ConditionFalse)
	rec := &progress.Recorder{}
	err := l.waitForNodes(t.Context(), rec.Begin(ActionNodesReady))
	require.Error(t, err, "srv3 never registers: the wait ends at its bound")
	assert.Contains(t, err.Error(), "wait for nodes srv1, srv2, srv3 Ready: gave up after 3s: ")
	assert.Contains(t, err.Error(), "srv2: NotReady (KubeletNotReady): container runtime network not ready (see its serial log "+NodePaths(l.Dir, "srv2").Serial)
	assert.Contains(t, err.Error(), "srv3: not registered (see its serial log "+NodePaths(l.Dir, "srv3").Serial)
	assert.Contains(t, rec.Statuses(ActionNodesReady), "nodes Ready 1/3 — waiting on srv2: NotReady (KubeletNotReady): container runtime network not ready")

	// The watch sees the last kubelet register and the wait ends then.
	nodesReadyTimeout = time.Minute
	require.NoError(t, c.Delete(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "srv2"}}))
	registerNode(t, c, "srv2", corev1.ConditionTrue)
	done := make(chan error, 1)
	go func() { done <- l.waitForNodes(t.Context(), progress.Discard.Begin("")) }()
	time.Sleep(500 * time.Millisecond) // usually watching by now (else its listing finds srv3): it must not end before
	registerNode(t, c, "srv3", corev1.ConditionTrue)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(30 * time.Second):
		t.Fatal("the wait did not see srv3 Ready")
	}
}

// CoreDNS is applied with the kube-dns Service at the config's address, with no pin; without a
// node to run it, the wait ends at its bound saying what its pod is doing.
func TestStartDNS(t *testing.T) {
	l, c := apiLab(t)
	l.configs = labConfigs(t, NodeImageTwin)
	old := dnsPoll
	t.Cleanup(func() { dnsPoll = old })
	// Two requests a check, one check a second: within client-go's 5 per second. (Five a second
	// filled its rate limiter until it refused checks whose deadline was near; the wait now keeps
	// the last real reason over such a refusal, see condition's tests.)
	dnsPoll = condition.Poll{Interval: time.Second, Timeout: 10 * time.Second, AttemptTimeout: 5 * time.Second}

	err := l.startDNS(context.Background(), progress.Discard.Begin(""))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wait for Deployment kube-system/coredns Available")
	assert.Contains(t, err.Error(), "no pod yet", "no controller manager here: no ReplicaSet, no pod")

	svc := &corev1.Service{}
	require.NoError(t, c.Get(t.Context(), client.ObjectKey{Namespace: clusterdns.Namespace, Name: clusterdns.ServiceName}, svc))
	assert.Equal(t, "10.96.0.10", svc.Spec.ClusterIP)
	cm := &corev1.ConfigMap{}
	require.NoError(t, c.Get(t.Context(), client.ObjectKey{Namespace: clusterdns.Namespace, Name: clusterdns.Name}, cm))
	assert.Contains(t, cm.Data["Corefile"], "kubernetes cozy.local cluster.local in-addr.arpa ip6.arpa")

	// A second apply (a resumed lab) converges on the same objects.
	require.Error(t, l.startDNS(context.Background(), progress.Discard.Begin("")))
}
