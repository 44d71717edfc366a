//go:build integration

package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local/placement"
	"github.com/cozylab/cozylab/lab/provider/providertest"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/lab/state"
)

// rootEnv makes the test binary a harness (providertest) running lab:up on the state root it names.
const rootEnv = "COZYLAB_TEST_LAB_ROOT"

func TestMain(m *testing.M) {
	if providertest.IsHarness() {
		rep, err := providertest.HarnessReporter()
		if err == nil {
			err = testLab(os.Getenv(rootEnv)).Up(context.Background(), rep)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func testLab(root string) *Provider {
	return New(root, state.Request{Name: "killed", Provider: ProviderName, RepoRoot: "../.."})
}

// TestKilledAtEachStepResumes kills the harness (SIGKILL) as each action of the local lab's
// lab:up begins, one harness after the other on the same lab. Each killed harness's daemon
// tears down what it runs; the next lab:up skips exactly the kept actions done before the kill
// (named in its output) and runs everything else again; the last one converges, and lab:down
// leaves no process and no directory.
func TestKilledAtEachStepResumes(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	p := testLab(root)
	host, err := realnode.Snapshot(root, p.Request.Name)
	require.NoError(t, err)
	t.Cleanup(func() { _ = p.Down(context.WithoutCancel(ctx), progress.Discard) })
	actions := (&lab{real: true}).actions()
	for i := 1; i < len(actions); i++ {
		killAt := actions[i].Name
		j := providertest.Run(t, []string{rootEnv + "=" + root}, killAt)
		// Kept actions done before the previous kill are kept; the one the previous harness
		// was killed at may have finished before its daemon noticed.
		assert.Subset(t, j.Kept, providertest.Kept(actions[:i-1]), "kill at %q: kept actions before the last kill are kept", killAt)
		assert.Subset(t, providertest.Kept(actions[:i]), j.Kept, "kill at %q: only kept actions before it are kept", killAt)
		for _, a := range actions[:i] {
			if !a.Kept() {
				assert.Contains(t, j.Begun, a.Name, "kill at %q: %q lives in the daemon and runs again", killAt, a.Name)
			}
		}
		require.Eventually(t, func() bool { return len(labProcesses(t, p.Dir())) == 0 }, time.Minute, 100*time.Millisecond,
			"the lab outlived its harness killed at %q: %v", killAt, labProcesses(t, p.Dir()))
	}

	store, err := p.Open()
	require.NoError(t, err)
	before, err := state.LoadFacts[facts](store)
	require.NoError(t, err)
	require.NotEmpty(t, before.Registry, "the harness killed last got past the registry's start")
	rec := &progress.Recorder{}
	require.NoError(t, p.Up(ctx, rec), "the next lab:up converges")
	assert.Equal(t, providertest.Kept(actions), providertest.KeptOf(rec), "every kept action is resumed, and named")
	store, err = p.Open()
	require.NoError(t, err)
	after, err := state.LoadFacts[facts](store)
	require.NoError(t, err)
	assert.Equal(t, before.Registry, after.Registry, "a resumed lab serves on the addresses the cluster's objects name")
	assert.Equal(t, before.Flux, after.Flux, "a resumed lab serves on the addresses the cluster's objects name")
	if before.Artifacts != "" { // the last harness died as the controllers started; they may have got that far
		assert.Equal(t, before.Artifacts, after.Artifacts)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig())
	require.NoError(t, err)
	nodes, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, nodes.Items, 4, "three simulated nodes and the real one")
	st, err := p.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "up", st.Phase)
	running, err := realnode.Snapshot(root, p.Request.Name)
	require.NoError(t, err)
	assert.NotEmpty(t, running.Links, "the snapshot sees the lab's real node (so the comparison after lab:down means something)")
	assert.NotEmpty(t, running.Cgroups, "the snapshot sees the real node's cgroups")
	t.Run("a pod reaches another by its Service's name", func(t *testing.T) { testServiceByName(t, p) })

	require.NoError(t, p.Down(ctx, progress.Discard))
	assert.Empty(t, labProcesses(t, p.Dir()))
	assert.NoDirExists(t, p.Dir())
	require.NotNil(t, after.Node, "the lab recorded its real node")
	hostAfter, err := realnode.Snapshot(root, p.Request.Name)
	require.NoError(t, err)
	b, a, _ := realnode.Comparable(host, hostAfter)
	assert.Equal(t, b, a, "after lab:down the host is as before: processes, mounts, links, nftables, cgroups (and, alone, sysctls and fixed paths)")
	st, err = p.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "absent", st.Phase)
}

// labProcesses lists live processes whose executable or arguments name dir.
func labProcesses(t *testing.T, dir string) []process.Running {
	t.Helper()
	out, err := process.FindMentioning(dir)
	require.NoError(t, err)
	return out
}

// testServiceByName runs the agent (lab/realnode/testdata/agent) on the real node behind a
// Service, and a second pod that fetches its page by the Service's DNS name: cluster DNS
// (CoreDNS), the Service IP (kube-proxy) and pod-to-pod traffic on the real node.
func testServiceByName(t *testing.T, p *Provider) {
	ctx := t.Context()
	reg, err := p.Registry()
	require.NoError(t, err)
	bin := filepath.Join(t.TempDir(), "agent")
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", bin, "github.com/cozylab/cozylab/lab/realnode/testdata/agent")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	const image = "ghcr.io/cozylab/agent:test"
	_, err = registry.PushBinaryImage(ctx, bin, reg+"/"+image, registry.ImageOptions{Path: "/agent", User: "65532"})
	require.NoError(t, err)

	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig())
	require.NoError(t, err)
	cs := kubernetes.NewForConfigOrDie(cfg)
	pod := func(name string, args ...string) *corev1.Pod {
		po := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": name}},
			Spec: corev1.PodSpec{RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr.To[int64](1),
				Containers: []corev1.Container{{Name: name, Image: image, Args: args}}}}
		return po // no placement of its own: the lab's rule decides
	}
	_, err = cs.CoreV1().Pods("default").Create(ctx, pod("agent"), metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Services("default").Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "agent"}, Ports: []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		po, err := cs.CoreV1().Pods("default").Get(ctx, "agent", metav1.GetOptions{})
		return err == nil && po.Status.Phase == corev1.PodRunning && po.Spec.NodeName == realnode.NodeName
	}, 3*time.Minute, 200*time.Millisecond, "the agent runs on the real node")
	// The placement rule: an image the lab does not have sends the pod to a simulated node.
	missing := pod("missing")
	missing.Spec.Containers[0].Image = "ghcr.io/cozylab/not-built-here:v0"
	_, err = cs.CoreV1().Pods("default").Create(ctx, missing, metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		po, err := cs.CoreV1().Pods("default").Get(ctx, "missing", metav1.GetOptions{})
		return err == nil && po.Spec.NodeName != ""
	}, 3*time.Minute, 200*time.Millisecond)
	po, err := cs.CoreV1().Pods("default").Get(ctx, "missing", metav1.GetOptions{})
	require.NoError(t, err)
	assert.NotEqual(t, realnode.NodeName, po.Spec.NodeName, "a pod whose image the lab lacks is simulated")
	assert.Equal(t, "simulated: the lab has no image ghcr.io/cozylab/not-built-here:v0", po.Annotations[placement.Annotation])
	// The client retries until the Service's endpoints reach kube-proxy: no guess at how long.
	var logs string
	for attempt := 0; ; attempt++ {
		name := fmt.Sprintf("client-%d", attempt)
		_, err = cs.CoreV1().Pods("default").Create(ctx, pod(name, "get", "http://agent.default.svc.cluster.local/"), metav1.CreateOptions{})
		require.NoError(t, err)
		var phase corev1.PodPhase
		require.Eventually(t, func() bool {
			po, err := cs.CoreV1().Pods("default").Get(ctx, name, metav1.GetOptions{})
			phase = po.Status.Phase
			return err == nil && (phase == corev1.PodSucceeded || phase == corev1.PodFailed)
		}, 3*time.Minute, 200*time.Millisecond)
		raw, err := cs.CoreV1().Pods("default").GetLogs(name, &corev1.PodLogOptions{}).DoRaw(ctx)
		require.NoError(t, err)
		logs = string(raw)
		if phase == corev1.PodSucceeded || attempt == 20 {
			break
		}
	}
	assert.Equal(t, "hello from agent\n", logs, "the page, fetched by the Service's DNS name")
}
