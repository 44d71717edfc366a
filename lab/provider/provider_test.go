package provider

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/lab/state"
)

// A daemon's lab counts as up from its ready until its context ends (lab:down, or the harness
// gone before it detached), not until its teardown is over; a ready after the end records nothing.
func TestUpWhileRunning(t *testing.T) {
	store, err := state.Create(t.TempDir(), state.Request{Name: "lab", Provider: "local"})
	require.NoError(t, err)

	ctx, cancel := context.WithCancel(t.Context())
	told := 0
	ready := UpWhileRunning(ctx, store, func() { told++ })

	require.NoError(t, ready())
	assert.True(t, store.Done(StepUp))
	assert.Equal(t, 1, told)

	cancel()
	require.Eventually(t, func() bool { return !reopened(t, store).Done(StepUp) }, 10*time.Second, time.Millisecond,
		"the end of the daemon's context undoes StepUp on disk, before any teardown")

	require.ErrorContains(t, ready(), "the lab is stopping")
	assert.False(t, reopened(t, store).Done(StepUp), "a ready after the end records nothing")
	assert.Equal(t, 1, told, "and tells nobody")
}

// reopened reads the store as another process (a harness's lab:up) does.
func reopened(t *testing.T, s *state.Store) *state.Store {
	t.Helper()
	o, err := state.Open(filepath.Dir(s.Dir()), s.Lab().Request.Name)
	require.NoError(t, err)
	return o
}
