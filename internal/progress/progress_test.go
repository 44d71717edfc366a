package progress

import (
	"bytes"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTerminalPlainLines(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerminal(&buf) // a buffer is no terminal: plain mode
	term.quietPeriod = time.Hour

	cached := term.Begin("etcd v3.6.6")
	cached.Skip("cached")

	build := term.Begin("kube-apiserver v1.35.4")
	build.Status("downloading modules")
	build.Status("compiling, %d packages built", 10) // within the quiet period: not printed
	build.Status("compiling, %d packages built", 10)
	require.NoError(t, build.Done(nil))

	failing := term.Begin("kwok v0.7.0")
	err := failing.Done(errors.New("exit status 1"))
	require.EqualError(t, err, "exit status 1")

	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	require.Len(t, lines, 5, buf.String())
	assert.Equal(t, " ✓ etcd v3.6.6 (cached)", lines[0])
	assert.Equal(t, " • kube-apiserver v1.35.4 ...", lines[1])
	assert.Regexp(t, `^   kube-apiserver v1.35.4: downloading modules \(0s\)$`, lines[2])
	assert.Regexp(t, `^ ✓ kube-apiserver v1.35.4 \([0-9.]+m?s\)$`, lines[3])
	assert.Equal(t, " ✗ kwok v0.7.0: exit status 1", lines[4])

	recs := term.Records()
	require.Len(t, recs, 3)
	assert.Equal(t, []Outcome{Skipped, Succeeded, Failed}, []Outcome{recs[0].Outcome, recs[1].Outcome, recs[2].Outcome})
}

func TestTerminalRepeatsStatusAfterQuietPeriod(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerminal(&buf)
	term.quietPeriod = 0
	s := term.Begin("wait")
	s.Status("ready 1/3")
	s.Status("ready 1/3") // unchanged: not repeated
	s.Status("ready 2/3")
	s.Skip("done")
	assert.Equal(t, 1, strings.Count(buf.String(), "ready 1/3"))
	assert.Contains(t, buf.String(), "ready 2/3")
}

// syncBuffer is a bytes.Buffer safe for the terminal's timers and the test to share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestTerminalPrintsTheLastStatusAfterQuietPeriod: a status that changed within the quiet period
// is printed once the period ends, even when no other status follows (a wait that moved on to
// its next object and stays there must say so), and a running step's unchanged status is
// printed again after the heartbeat.
func TestTerminalPrintsTheLastStatusAfterQuietPeriod(t *testing.T) {
	var buf syncBuffer
	term := NewTerminal(&buf)
	term.quietPeriod, term.heartbeat = 50*time.Millisecond, 200*time.Millisecond
	s := term.Begin("wait")
	s.Status("waiting for the operator")
	s.Status("waiting for the platform source") // within the quiet period
	require.NotContains(t, buf.String(), "platform source", "not before the quiet period ends")
	require.Eventually(t, func() bool { return strings.Contains(buf.String(), "wait: waiting for the platform source") },
		time.Minute, 10*time.Millisecond, "the last status is printed when the quiet period ends: %q", buf.String())
	require.Eventually(t, func() bool { return strings.Count(buf.String(), "waiting for the platform source") == 2 },
		time.Minute, 10*time.Millisecond, "the unchanged status is printed again after the heartbeat: %q", buf.String())
	require.NoError(t, s.Done(nil))
	final := buf.String()
	time.Sleep(3 * term.heartbeat)
	assert.Equal(t, final, buf.String(), "nothing is printed for an ended step")
}

func TestStepEndsOnce(t *testing.T) {
	var buf bytes.Buffer
	term := NewTerminal(&buf)
	s := term.Begin("x")
	require.NoError(t, s.Done(nil))
	s.Skip("again")
	assert.Len(t, term.Records(), 1)
}

func TestFormatSummary(t *testing.T) {
	got := FormatSummary([]Record{
		{Title: "kube-apiserver v1.35.4", Duration: 192*time.Second + 300*time.Millisecond, Outcome: Succeeded},
		{Title: "etcd v3.6.6", Duration: 40 * time.Millisecond, Outcome: Skipped, Note: "cached"},
		{Title: "kwok", Duration: 2 * time.Second, Outcome: Failed, Note: "boom"},
	}, 195*time.Second)
	want := "Timing (3 steps, 3m15s wall):\n" +
		"  ✓ kube-apiserver v1.35.4    3m12s\n" +
		"  - etcd v3.6.6                  0s  cached\n" +
		"  ✗ kwok                         2s  failed\n"
	assert.Equal(t, want, got)
}

func TestRecorder(t *testing.T) {
	r := &Recorder{}
	s := r.Begin("a")
	s.Status("half %d%%", 50)
	require.Error(t, s.Done(errors.New("no")))
	assert.Equal(t, []string{"half 50%"}, r.Statuses("a"))
	require.Len(t, r.Records(), 1)
	assert.Equal(t, Failed, r.Records()[0].Outcome)
	assert.Equal(t, "no", r.Records()[0].Note)
}
