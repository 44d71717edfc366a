//go:build integration

package local

import (
	"context"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/provider/providertest"
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
	t.Cleanup(func() { _ = p.Down(context.WithoutCancel(ctx), progress.Discard) })
	actions := (&lab{}).actions()
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
