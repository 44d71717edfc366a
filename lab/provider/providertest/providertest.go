// Package providertest kills a harness in the middle of lab:up, for the tests that show a lab
// resumes: the test binary re-executes itself as a harness (its TestMain calls HarnessReporter
// when Run started it), which journals every step it sees and SIGKILLs itself when a chosen step
// begins. It also makes a test binary the client a login test runs in its shell (ListNodes).
// Only tests import it.
package providertest

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/provider"
)

// The harness's environment: the journal it writes and the step it dies at.
const (
	journalEnv = "COZYLAB_TEST_JOURNAL"
	killAtEnv  = "COZYLAB_TEST_KILL_AT"
)

// IsHarness reports whether this process was started by Run as a harness.
func IsHarness() bool { return os.Getenv(journalEnv) != "" }

// HarnessReporter is the reporter a harness runs lab:up with: it writes "begin\t<title>" for
// every step and "kept\t<title>" for an action resumed from an earlier lab:up to the journal,
// and kills the process with SIGKILL when the step named by Run begins.
func HarnessReporter() (progress.Reporter, error) {
	f, err := os.OpenFile(os.Getenv(journalEnv), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open the harness journal: %w", err)
	}
	return killingReporter{journal: f, killAt: os.Getenv(killAtEnv)}, nil
}

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
func (s journalStep) Skip(reason string) {
	if reason == provider.SkipKept {
		fmt.Fprintf(s.journal, "kept\t%s\n", s.title)
	}
}

// Journal is what a killed harness saw: the steps it began and the actions it kept, in order.
type Journal struct {
	Begun, Kept []string
}

// Run starts the test binary as a harness with env added, waits until it is killed as the step
// killAt begins, and returns its journal. It fails t when the harness ends otherwise.
func Run(t *testing.T, env []string, killAt string) Journal {
	t.Helper()
	path := t.TempDir() + "/journal"
	harness := exec.Command(os.Args[0])
	harness.Env = append(append(os.Environ(), env...), journalEnv+"="+path, killAtEnv+"="+killAt)
	out, err := harness.CombinedOutput()
	require.Error(t, err, "the harness to be killed at %q exited by itself: %s", killAt, out)
	raw, err := os.ReadFile(path)
	require.NoError(t, err, "the harness wrote no journal: %s", out)
	var j Journal
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		kind, title, _ := strings.Cut(line, "\t")
		switch kind {
		case "begin":
			j.Begun = append(j.Begun, title)
		case "kept":
			j.Kept = append(j.Kept, title)
		}
	}
	require.Contains(t, j.Begun, killAt, "the harness never reached %q: %s", killAt, out)
	return j
}

// Kept lists the names of the kept actions among actions, in order.
func Kept(actions []provider.Action) []string {
	var out []string
	for _, a := range actions {
		if a.Kept() {
			out = append(out, a.Name)
		}
	}
	return out
}

// KeptOf lists the titles of the steps rec shows as resumed from an earlier lab:up.
func KeptOf(rec *progress.Recorder) []string {
	var out []string
	for _, r := range rec.Records() {
		if r.Outcome == progress.Skipped && r.Note == provider.SkipKept {
			out = append(out, r.Title)
		}
	}
	return out
}
