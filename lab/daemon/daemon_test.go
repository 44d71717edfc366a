package daemon

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/state"
)

// modeEnv makes the test binary act as a daemon (TestMain); marker is the file it writes when
// it tears down, so the test can see that it did.
const (
	modeEnv   = "COZYLAB_TEST_DAEMON"
	markerEnv = "COZYLAB_TEST_DAEMON_MARKER"
)

func TestMain(m *testing.M) {
	if mode := os.Getenv(modeEnv); mode != "" {
		os.Exit(fakeDaemon(mode))
	}
	os.Exit(m.Run())
}

// fakeDaemon reports a step, then: "ready" reports ready and runs until its context ends;
// "fail" reports a failure; "hang" never becomes ready. It writes the marker when it ends.
func fakeDaemon(mode string) int {
	ctx, child, cancel := Attach(context.Background())
	defer cancel()
	defer os.WriteFile(os.Getenv(markerEnv), []byte("torn down"), 0o600)
	step := child.Progress.Begin("Starting the fake lab")
	step.Status("pid %d", os.Getpid())
	step.Done(nil)
	switch mode {
	case "ready":
		child.Ready("up")
	case "fail":
		child.Failed(errors.New("port 6443 in use: stop what holds it"))
		return 1
	}
	<-ctx.Done()
	return 0
}

func spawn(t *testing.T, ctx context.Context, mode string) (int, string, *progress.Recorder, error) {
	t.Helper()
	dir := t.TempDir()
	rec := &progress.Recorder{}
	marker := filepath.Join(dir, "marker")
	pid, err := Spawn(ctx, Options{Path: os.Args[0], Env: []string{modeEnv + "=" + mode, markerEnv + "=" + marker}, Log: filepath.Join(dir, "daemon.log")}, rec)
	return pid, marker, rec, err
}

func TestReadyDaemonDetachesAndRunsUntilSignalled(t *testing.T) {
	pid, marker, rec, err := spawn(t, context.Background(), "ready")
	require.NoError(t, err)
	require.Len(t, rec.Records(), 1)
	assert.Equal(t, "Starting the fake lab", rec.Records()[0].Title, "the daemon's steps are shown as the parent's")
	id, err := process.Identify(pid)
	require.NoError(t, err)
	assert.True(t, id.Running(), "a detached daemon outlives Spawn")
	assert.NoFileExists(t, marker)
	require.NoError(t, id.Terminate(context.Background(), 10*time.Second))
	assert.FileExists(t, marker, "SIGTERM ends it through its context")
}

func TestFailedDaemonReturnsItsError(t *testing.T) {
	_, _, _, err := spawn(t, context.Background(), "fail")
	require.EqualError(t, err, "port 6443 in use: stop what holds it")
}

func TestCancelledParentMakesTheDaemonTearDown(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(500*time.Millisecond, cancel)
	_, marker, _, err := spawn(t, ctx, "hang")
	require.ErrorIs(t, err, context.Canceled)
	assert.FileExists(t, marker, "Spawn returns after the daemon tore down")
}

func TestRecordAndRecorded(t *testing.T) {
	store, err := state.Create(t.TempDir(), state.Request{Name: "lab", Provider: "local"})
	require.NoError(t, err)
	_, ok := Recorded(store)
	assert.False(t, ok)
	require.NoError(t, Record(store))
	id, ok := Recorded(store)
	require.True(t, ok)
	assert.Equal(t, os.Getpid(), id.Pid)
	assert.True(t, id.Running())
	again, err := state.Open(store.Root(), "lab")
	require.NoError(t, err)
	id, ok = Recorded(again)
	require.True(t, ok, "the identity survives a reopen")
	assert.Equal(t, os.Getpid(), id.Pid)
	require.NoError(t, store.SetDaemon(&state.Daemon{Pid: syscall.Getpid(), Start: id.Start + 1}))
	id, ok = Recorded(store)
	require.True(t, ok)
	assert.False(t, id.Running(), "another start time is another process")
}
