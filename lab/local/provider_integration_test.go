//go:build integration

package local

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
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
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/state"
)

// Environment of the test binary acting as a harness (TestMain): it runs lab:up on the state
// root harnessEnv names, writes each step it sees to the file journalEnv names ("begin\t<title>"
// or "skip\t<title>"), and kills itself with SIGKILL when the step killAtEnv names begins.
const (
	harnessEnv = "COZYLAB_TEST_LAB_ROOT"
	journalEnv = "COZYLAB_TEST_JOURNAL"
	killAtEnv  = "COZYLAB_TEST_KILL_AT"
)

func TestMain(m *testing.M) {
	if root := os.Getenv(harnessEnv); root != "" {
		journal, err := os.OpenFile(os.Getenv(journalEnv), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		rep := killingReporter{journal: journal, killAt: os.Getenv(killAtEnv)}
		if err := testLab(root).Up(context.Background(), rep); err != nil {
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

// killingReporter journals every step and SIGKILLs its own process when killAt begins.
type killingReporter struct {
	journal *os.File
	killAt  string
}

func (r killingReporter) Begin(title string) progress.Step {
	fmt.Fprintf(r.journal, "begin\t%s\n", title)
	if title == r.killAt {
		_ = r.journal.Sync()
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // the signal ends us
	}
	return journalStep{r.journal, title}
}

type journalStep struct {
	journal *os.File
	title   string
}

func (journalStep) Status(string, ...any) {}
func (journalStep) Done(err error) error  { return err }
func (s journalStep) Skip(string)         { fmt.Fprintf(s.journal, "skip\t%s\n", s.title) }

// journal reads a harness's journal: the titles begun and those skipped, in order.
func journal(t *testing.T, path string) (begun, skipped []string) {
	t.Helper()
	raw, err := os.ReadFile(path)
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		kind, title, _ := strings.Cut(line, "\t")
		switch kind {
		case "begin":
			begun = append(begun, title)
		case "skip":
			skipped = append(skipped, title)
		}
	}
	return begun, skipped
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
	kept := func(upTo int) []string { // kept actions among actions[:upTo]
		var out []string
		for _, a := range actions[:upTo] {
			if a.Kept() {
				out = append(out, a.Name)
			}
		}
		return out
	}
	for i := 1; i < len(actions); i++ {
		killAt := actions[i].Name
		path := filepath.Join(t.TempDir(), "journal")
		harness := exec.Command(os.Args[0])
		harness.Env = append(os.Environ(), harnessEnv+"="+root, journalEnv+"="+path, killAtEnv+"="+killAt)
		out, err := harness.CombinedOutput()
		require.Error(t, err, "the harness killed at %q exited by itself: %s", killAt, out)
		begun, skipped := journal(t, path)
		require.Contains(t, begun, killAt, "the harness never reached %q: %s", killAt, out)
		// Kept actions done before the previous kill are skipped; the one the previous harness
		// was killed at may have finished before its daemon noticed.
		assert.Subset(t, skipped, kept(i-1), "kill at %q: kept actions before the last kill are skipped", killAt)
		assert.Subset(t, kept(i), skipped, "kill at %q: only kept actions before it are skipped", killAt)
		for _, a := range actions[:i] {
			if !a.Kept() {
				assert.Contains(t, begun, a.Name, "kill at %q: %q lives in the daemon and runs again", killAt, a.Name)
			}
		}
		require.Eventually(t, func() bool { return len(labProcesses(t, p.Dir())) == 0 }, time.Minute, 100*time.Millisecond,
			"the lab outlived its harness killed at %q: %v", killAt, labProcesses(t, p.Dir()))
	}

	rec := &progress.Recorder{}
	require.NoError(t, p.Up(ctx, rec), "the next lab:up converges")
	var skipped []string
	for _, r := range rec.Records() {
		if r.Outcome == progress.Skipped && r.Note == provider.SkipKept {
			skipped = append(skipped, r.Title)
		}
	}
	assert.Equal(t, kept(len(actions)), skipped, "every kept action is resumed, and named")
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
