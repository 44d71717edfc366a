//go:build integration

package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/images"
	"github.com/cozylab/cozylab/lab/qemu/vm"
)

// Bounds of the pod-network checks on three TCG guests sharing a 2-core host: a pod's pull,
// start and first answer take tens of seconds there; a rebooted twin boots, rejoins etcd and
// restarts its API server, kubelet and pods within minutes.
const (
	podBound    = 8 * time.Minute
	rebootBound = 20 * time.Minute // CI measured 12.4 min for the whole reset subtest beside other packages
	echoPort    = 8080
	testNS      = "twin-net"
)

// checkPodNetwork runs the echo app on srv2 and srv3 and fetches its page from pods on other
// twins: by the server pod's address (the host-gateway routes between guests) and by its
// Service's name (CoreDNS and kube-proxy). Then srv3 is reset through QMP: it must come back a
// Ready node (a new boot) with its echo pod running again and answering from srv1.
func checkPodNetwork(ctx context.Context, t *testing.T, p *Provider) {
	reg, err := p.Registry()
	require.NoError(t, err)
	_, err = images.Build(ctx, images.Options{Registry: reg, RepoRoot: p.Request.RepoRoot, Names: []string{images.Echo}, Progress: progress.Discard, Uncompressed: true})
	require.NoError(t, err, "build and push the echo image")
	echo, err := images.Lookup(images.Echo)
	require.NoError(t, err)

	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig())
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: testNS}}, metav1.CreateOptions{})
	require.NoError(t, err)

	for _, node := range []string{"srv2", "srv3"} {
		pod := echoServer(echo.Upstream, node)
		_, err := cs.CoreV1().Pods(testNS).Create(ctx, pod, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err = cs.CoreV1().Services(testNS).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "echo"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "echo", "node": "srv2"},
			Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(echoPort)}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)

	srv2 := waitPodReady(ctx, t, cs, "echo-srv2", time.Time{})
	waitPodReady(ctx, t, cs, "echo-srv3", time.Time{})

	t.Run("a pod on one twin reaches a pod on another", func(t *testing.T) {
		page := fetchFrom(ctx, t, cs, echo.Upstream, "srv3", fmt.Sprintf("http://%s:%d/", srv2.Status.PodIP, echoPort))
		assert.Contains(t, page, "echo from echo-srv2", "srv3's pod fetched srv2's pod by its address")
	})

	t.Run("a Service name resolves and answers from a pod", func(t *testing.T) {
		page := fetchFrom(ctx, t, cs, echo.Upstream, "srv1", "http://echo."+testNS+".svc/")
		assert.Contains(t, page, "echo from echo-srv2", "srv1's pod reached the Service by name")
	})

	t.Run("a twin reset through QMP comes back Ready with its pods", func(t *testing.T) {
		before, err := cs.CoreV1().Nodes().Get(ctx, "srv3", metav1.GetOptions{})
		require.NoError(t, err)
		reset := time.Now()
		require.NoError(t, vm.NewMonitor(NodePaths(p.Dir(), "srv3").QMP, 10*time.Second).Reset(ctx))

		rebooted := condition.Condition{Name: fmt.Sprintf("srv3 Ready after a new boot (was boot %s)", before.Status.NodeInfo.BootID), Check: func(ctx context.Context) error {
			n, err := cs.CoreV1().Nodes().Get(ctx, "srv3", metav1.GetOptions{})
			if err != nil {
				return err
			}
			if n.Status.NodeInfo.BootID == before.Status.NodeInfo.BootID {
				return errors.New("still the old boot")
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return nil
				} else if c.Type == corev1.NodeReady {
					return fmt.Errorf("new boot, Ready=%s (%s)", c.Status, c.Message)
				}
			}
			return errors.New("new boot, no Ready condition yet")
		}}
		require.NoError(t, condition.Wait(ctx, rebooted, condition.Poll{Interval: 5 * time.Second, Timeout: rebootBound, AttemptTimeout: 15 * time.Second}, nil))

		pod := waitPodReady(ctx, t, cs, "echo-srv3", reset)
		page := fetchFrom(ctx, t, cs, echo.Upstream, "srv1", fmt.Sprintf("http://%s:%d/", pod.Status.PodIP, echoPort))
		assert.Contains(t, page, "echo from echo-srv3", "the pod srv3 runs again answers across the twins")
	})
}

func echoServer(image, node string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-" + node, Labels: map[string]string{"app": "echo", "node": node}},
		Spec: corev1.PodSpec{
			NodeSelector:                  map[string]string{corev1.LabelHostname: node},
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{
				Name: "echo", Image: image,
				Ports: []corev1.ContainerPort{{ContainerPort: echoPort}},
				ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{
					HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(echoPort)}}, PeriodSeconds: 2},
			}},
		},
	}
}

// waitPodReady waits until pod name is Ready with a container started after since.
func waitPodReady(ctx context.Context, t *testing.T, cs kubernetes.Interface, name string, since time.Time) *corev1.Pod {
	t.Helper()
	var ready *corev1.Pod
	cond := condition.Condition{Name: "pod " + name + " Ready", Check: func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(testNS).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for _, c := range p.Status.ContainerStatuses {
			if c.State.Running != nil && c.State.Running.StartedAt.After(since.Add(-time.Second)) && c.Ready {
				ready = p
				return nil
			}
		}
		return fmt.Errorf("%s on %s", p.Status.Phase, p.Spec.NodeName)
	}}
	require.NoError(t, condition.Wait(ctx, cond, condition.Poll{Interval: 2 * time.Second, Timeout: podBound, AttemptTimeout: 15 * time.Second}, nil))
	return ready
}

// fetchFrom runs `echo get url` in a pod on node and returns what it printed. A failed fetch is
// tried again with a new pod until podBound: a new Service reaches kube-proxy and CoreDNS on
// every twin in its own time, and the client's 10-second timeout is native-paced.
func fetchFrom(ctx context.Context, t *testing.T, cs kubernetes.Interface, image, node, url string) string {
	t.Helper()
	deadline := time.Now().Add(podBound)
	var failures []string
	for attempt := 1; ; attempt++ {
		out, ok := fetchOnce(ctx, t, cs, image, node, url, time.Until(deadline))
		if ok {
			return out
		}
		failures = append(failures, fmt.Sprintf("attempt %d: %s", attempt, out))
		if time.Until(deadline) <= 0 {
			require.Failf(t, "fetch from a pod", "%s from %s failed %d times within %s:\n%s", url, node, attempt, podBound, strings.Join(failures, "\n"))
		}
		t.Logf("%s from %s, attempt %d: %s; trying again with a new pod", url, node, attempt, out)
	}
}

// fetchOnce runs one client pod on node and returns its output and whether it succeeded.
func fetchOnce(ctx context.Context, t *testing.T, cs kubernetes.Interface, image, node, url string, bound time.Duration) (string, bool) {
	t.Helper()
	pod, err := cs.CoreV1().Pods(testNS).Create(ctx, &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "client-" + node + "-"},
		Spec: corev1.PodSpec{
			NodeSelector: map[string]string{corev1.LabelHostname: node}, RestartPolicy: corev1.RestartPolicyNever,
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers:                    []corev1.Container{{Name: "get", Image: image, Args: []string{"get", url}}},
		},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	var phase corev1.PodPhase
	done := condition.Condition{Name: "client pod " + pod.Name + " done", Check: func(ctx context.Context) error {
		p, err := cs.CoreV1().Pods(testNS).Get(ctx, pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		if phase = p.Status.Phase; phase == corev1.PodSucceeded || phase == corev1.PodFailed {
			return nil
		}
		return fmt.Errorf("%s on %s", phase, node)
	}}
	require.NoError(t, condition.Wait(ctx, done, condition.Poll{Interval: 2 * time.Second, Timeout: max(bound, time.Minute), AttemptTimeout: 15 * time.Second}, nil))
	raw, err := cs.CoreV1().Pods(testNS).GetLogs(pod.Name, &corev1.PodLogOptions{}).Stream(ctx)
	require.NoError(t, err)
	defer raw.Close()
	out, err := io.ReadAll(raw)
	require.NoError(t, err)
	return strings.TrimSpace(string(out)), phase == corev1.PodSucceeded
}
