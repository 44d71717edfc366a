//go:build integration

package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
)

// harnessEnv makes the test binary act as a harness running lab:up on the state root it names
// (TestMain), for TestKilledHarnessLeavesNothing to kill.
const harnessEnv = "COZYLAB_TEST_LAB_ROOT"

func TestMain(m *testing.M) {
	if root := os.Getenv(harnessEnv); root != "" {
		p := &Provider{Lab: "killed", Root: root, RepoRoot: "../.."}
		if err := p.Up(context.Background(), progress.Discard); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// TestKilledHarnessLeavesNothing kills the harness with SIGKILL in the middle of lab:up: the
// daemon notices its lifeline closed and tears the lab down; the next lab:up converges, and
// lab:down leaves nothing.
func TestKilledHarnessLeavesNothing(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	p := &Provider{Lab: "killed", Root: root, RepoRoot: "../.."}
	t.Cleanup(func() { _ = p.Down(context.WithoutCancel(ctx), progress.Discard) })

	harness := exec.Command(os.Args[0])
	harness.Env = append(os.Environ(), harnessEnv+"="+root)
	require.NoError(t, harness.Start())
	// The middle of lab:up: the daemon runs the control plane, the lab is not up yet.
	require.Eventually(t, func() bool {
		logs, _ := filepath.Glob(filepath.Join(p.Dir(), "run", "*", "kube-apiserver.log"))
		return len(logs) > 0
	}, 3*time.Minute, 20*time.Millisecond, "the daemon never started the control plane")
	require.NoError(t, harness.Process.Signal(syscall.SIGKILL))
	_ = harness.Wait()

	require.Eventually(t, func() bool { return len(labProcesses(t, p.Dir())) == 0 }, time.Minute, 100*time.Millisecond,
		"the lab outlived its killed harness: %v", labProcesses(t, p.Dir()))

	require.NoError(t, p.Up(ctx, progress.Discard), "the next lab:up converges")
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig())
	require.NoError(t, err)
	nodes, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	assert.Len(t, nodes.Items, 3)
	st, err := p.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "up", st.Phase)

	require.NoError(t, p.Down(ctx, progress.Discard))
	assert.Empty(t, labProcesses(t, p.Dir()))
	assert.NoDirExists(t, p.Dir())
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
