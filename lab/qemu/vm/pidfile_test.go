package vm

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStopFromPidfileMissingMeansNothingRuns(t *testing.T) {
	spec := Spec{Name: "n", Pidfile: filepath.Join(t.TempDir(), "qemu.pid")}
	assert.NoError(t, StopFromPidfile(context.Background(), spec, Options{}))
}

// A pidfile naming a live process that is not that QEMU (here: this test) is stale: the process
// is left alone and the file removed.
func TestStopFromPidfileLeavesOtherProcessesAlone(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qemu.pid")
	require.NoError(t, os.WriteFile(path, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600))
	require.NoError(t, StopFromPidfile(context.Background(), Spec{Name: "n", Pidfile: path}, Options{}))
	assert.NoFileExists(t, path)
}

func TestStopFromPidfileRejectsGarbage(t *testing.T) {
	path := filepath.Join(t.TempDir(), "qemu.pid")
	require.NoError(t, os.WriteFile(path, []byte("not a pid"), 0o600))
	err := StopFromPidfile(context.Background(), Spec{Name: "n", Pidfile: path}, Options{})
	assert.ErrorContains(t, err, "is not a pid")
	assert.FileExists(t, path)
}

func TestStartedAtIsInThePast(t *testing.T) {
	at, err := startedAt(os.Getpid())
	require.NoError(t, err)
	assert.True(t, at.Before(time.Now().Add(time.Second)), "started at %s", at)
	assert.True(t, at.After(time.Now().Add(-24*time.Hour)), "started at %s", at)
}
