//go:build integration

package realnode

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	"k8s.io/utils/ptr"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/controlplane"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
)

const (
	pauseRef = "registry.k8s.io/pause:3.10.1"
	agentRef = "ghcr.io/cozylab/agent:test"
)

// cluster is a control plane with one real node, for the tests of this package.
type cluster struct {
	cs   kubernetes.Interface
	cfg  *rest.Config
	dir  string
	plan Plan
}

// startCluster starts a control plane on the node's host address, a registry with the pause
// and agent images under upstream names, and the real node; cleanup tears all down.
func startCluster(t *testing.T, root, lab string) *cluster {
	t.Helper()
	require.NoError(t, CheckPrerequisites())
	ctx := t.Context()
	bins, err := (&bincache.Cache{Progress: progress.Discard}).Ensure(ctx, bincache.Etcd, bincache.KubeAPIServer,
		bincache.KubeControllerManager, bincache.KubeScheduler, bincache.Kubelet, bincache.KubeProxy)
	require.NoError(t, err, "build the binaries: go run mage.go bins")
	path := func(name string) string { return bins[name] }
	require.NoError(t, os.MkdirAll(root, 0o700))
	dir := filepath.Join(root, "node")
	sub, err := ChooseSubnet(lab)
	require.NoError(t, err)
	plan, err := NewPlan(lab, sub)
	require.NoError(t, err)
	group, err := process.NewGroup(filepath.Join(root, "run"))
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.WithoutCancel(ctx)
		assert.NoError(t, group.Stop(ctx))
		assert.NoError(t, Clean(dir, plan))
	})
	require.NoError(t, Prepare(dir, plan))

	cp, err := controlplane.Start(ctx, controlplane.Options{
		Root: filepath.Join(root, "cp"), Address: plan.Host,
		Etcd: path(bincache.Etcd), APIServer: path(bincache.KubeAPIServer),
		ControllerManager: path(bincache.KubeControllerManager), Scheduler: path(bincache.KubeScheduler),
		ReadyTimeout: 2 * time.Minute,
	})
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cp.Stop(context.WithoutCancel(ctx))) })

	reg, err := registry.Start(registry.Options{Addr: net.JoinHostPort(plan.Host.String(), "0")})
	require.NoError(t, err)
	t.Cleanup(func() { _ = reg.Close() })
	push := func(pkg, ref string) {
		bin := filepath.Join(root, filepath.Base(pkg))
		build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		out, err := build.CombinedOutput()
		require.NoError(t, err, "%s", out)
		_, err = registry.PushBinaryImage(ctx, bin, reg.Addr()+"/"+ref, registry.ImageOptions{Path: "/" + filepath.Base(pkg), User: "65532"})
		require.NoError(t, err)
	}
	push("github.com/cozylab/cozylab/lab/cmd/pause", pauseRef)
	push("github.com/cozylab/cozylab/lab/realnode/testdata/agent", agentRef)

	rec := &progress.Recorder{}
	step := rec.Begin("real node")
	n, err := Start(ctx, Options{
		Plan: plan, Dir: dir, Kubelet: path(bincache.Kubelet), KubeProxy: path(bincache.KubeProxy),
		APIServer: cp.URL, CACertFile: cp.CACertFile, CAKeyFile: cp.CAKeyFile,
		Admin: cp.RESTConfig(), APIServerKubeletUser: controlplane.KubeletClientUser,
		Registry: reg.Addr(), Mirrors: []string{"registry.k8s.io", "ghcr.io"}, PauseImage: pauseRef,
		Start: group.Start,
	}, step)
	step.Done(err)
	require.NoError(t, err, "statuses: %v", rec.Statuses("real node"))
	assert.True(t, strings.HasPrefix(n.ContainerdVersion, "1.6."), n.ContainerdVersion)
	assert.Equal(t, bincache.KubernetesVersion, n.KubeletVersion)
	cs, err := kubernetes.NewForConfig(cp.RESTConfig())
	require.NoError(t, err)
	return &cluster{cs: cs, cfg: cp.RESTConfig(), dir: dir, plan: plan}
}

// runAgent creates a pod of the agent on the real node and waits until it is Running.
func (c *cluster) runAgent(t *testing.T, name, image string) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](1),
			Containers: []corev1.Container{{Name: "agent", Image: image,
				Ports: []corev1.ContainerPort{{ContainerPort: 8080}}}},
		},
	}
	Placement(&pod.Spec)
	_, err := c.cs.CoreV1().Pods("default").Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	var got *corev1.Pod
	require.Eventually(t, func() bool {
		got, err = c.cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
		return err == nil && got.Status.Phase == corev1.PodRunning
	}, 3*time.Minute, 200*time.Millisecond, "pod %s Running", name)
	return got
}

// A pod of an image built here runs on the real node, and logs, exec and port-forward work
// through the API server; the kubelet refuses an anonymous client. A second lab's node runs
// beside it. Once both are cleaned the host is as it was before: processes, mounts, links,
// firewall tables, sysctls, fixed paths and cgroups.
func TestRealNode(t *testing.T) {
	root := t.TempDir()
	labs := []string{"rn-test", "rn-other"}
	before := snapshotHost(t, root, labs...)
	t.Run("runs pods", func(t *testing.T) { testRunsPods(t, root, labs) })
	after := snapshotHost(t, root, labs...)
	assertHostAsBefore(t, before, after)
}

func testRunsPods(t *testing.T, root string, labs []string) {
	c := startCluster(t, filepath.Join(root, labs[0]), labs[0])
	other := startCluster(t, filepath.Join(root, labs[1]), labs[1])
	assert.NotEmpty(t, snapshotHost(t, root, labs...).Mounts, "the snapshot sees the labs' mounts while they run")
	assert.NotEqual(t, c.plan.Subnet, other.plan.Subnet, "each lab has its own network")
	ctx := t.Context()
	pod := c.runAgent(t, "agent", agentRef)
	assert.True(t, c.plan.Pods.Contains(mustAddr(t, pod.Status.PodIP)), "pod IP %s from the node's pod network %s", pod.Status.PodIP, c.plan.Pods)

	t.Run("logs", func(t *testing.T) {
		require.Eventually(t, func() bool {
			raw, err := c.cs.CoreV1().Pods("default").GetLogs("agent", &corev1.PodLogOptions{}).DoRaw(ctx)
			return err == nil && strings.Contains(string(raw), "agent serving on :8080 as agent")
		}, time.Minute, 200*time.Millisecond)
	})

	t.Run("exec", func(t *testing.T) {
		req := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("agent").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "agent", Command: []string{"/agent", "echo", "hello", "exec"}, Stdout: true, Stderr: true}, scheme.ParameterCodec)
		exe, err := remotecommand.NewWebSocketExecutor(c.cfg, "GET", req.URL().String())
		require.NoError(t, err)
		var out, errOut bytes.Buffer
		require.NoError(t, exe.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errOut}), errOut.String())
		assert.Equal(t, "hello exec\n", out.String())
	})

	t.Run("port-forward", func(t *testing.T) {
		transport, upgrader, err := spdy.RoundTripperFor(c.cfg)
		require.NoError(t, err)
		u := c.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace("default").Name("agent").SubResource("portforward").URL()
		dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, "POST", u)
		stop, ready := make(chan struct{}), make(chan struct{})
		defer close(stop)
		fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
		require.NoError(t, err)
		go func() { _ = fw.ForwardPorts() }()
		<-ready
		ports, err := fw.GetPorts()
		require.NoError(t, err)
		resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[0].Local))
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, "hello from agent\n", string(body))
	})

	t.Run("the kubelet refuses anonymous clients", func(t *testing.T) {
		cl := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: insecureTLS()}}
		resp, err := cl.Get((&url.URL{Scheme: "https", Host: net.JoinHostPort(c.plan.Node.String(), "10250"), Path: "/pods"}).String())
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	})

	t.Run("the kubelet changed the kernel sysctls teardown restores", func(t *testing.T) {
		raw, err := os.ReadFile("/proc/sys/vm/overcommit_memory")
		require.NoError(t, err)
		assert.Equal(t, "1", strings.TrimSpace(string(raw)), "so the comparison after Clean means something")
	})

	t.Run("a second lab's node runs pods beside the first", func(t *testing.T) {
		pod := other.runAgent(t, "agent", agentRef)
		assert.True(t, other.plan.Pods.Contains(mustAddr(t, pod.Status.PodIP)), "pod IP %s in the other lab's pod network", pod.Status.PodIP)
		raw, err := other.cs.CoreV1().Pods("default").GetLogs("agent", &corev1.PodLogOptions{}).DoRaw(ctx)
		require.NoError(t, err)
		assert.Contains(t, string(raw), "agent serving")
	})
}
