package condition

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/progress"
)

func TestPollReportsChangedDetailsUntilTrue(t *testing.T) {
	rec := &progress.Recorder{}
	step := rec.Begin("wait")
	n := 0
	err := Poll(context.Background(), step, Condition{Name: "three calls", Check: func(context.Context) (bool, string, error) {
		n++
		switch n {
		case 1, 2:
			return false, "not yet", nil
		case 3:
			return false, "almost", nil
		}
		return true, "", nil
	}}, time.Millisecond, 5*time.Second)
	require.NoError(t, err)
	assert.Equal(t, 4, n)
	assert.Equal(t, []string{"waiting for three calls: not yet", "waiting for three calls: almost"}, rec.Statuses("wait"))
}

func TestPollStopsOnCheckError(t *testing.T) {
	dead := errors.New("etcd exited")
	err := Poll(context.Background(), progress.Discard.Begin("x"), Condition{Name: "apiserver", Check: func(context.Context) (bool, string, error) {
		return false, "", dead
	}}, time.Millisecond, time.Second)
	require.ErrorIs(t, err, dead)
	assert.EqualError(t, err, "wait for apiserver: etcd exited")
}

func TestPollTimeoutNamesConditionAndLastDetail(t *testing.T) {
	err := Poll(context.Background(), progress.Discard.Begin("x"), Condition{Name: "kube-apiserver /readyz", Check: func(context.Context) (bool, string, error) {
		return false, "HTTP 500 etcd", nil
	}}, time.Millisecond, 20*time.Millisecond)
	require.ErrorIs(t, err, context.DeadlineExceeded)
	assert.Contains(t, err.Error(), "wait for kube-apiserver /readyz (last seen: HTTP 500 etcd)")
}
