package subnet

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// One holder at a time; the next one gets the lock once it is released, and a waiter gives up
// with its context.
func TestLockIsExclusive(t *testing.T) {
	lockName = "@cozylab-subnet-lock-test-" + t.Name()
	unlock, err := Lock(t.Context())
	require.NoError(t, err)

	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	_, err = Lock(ctx)
	assert.ErrorContains(t, err, "wait for another lab choosing its network")

	got := make(chan func(), 1)
	go func() {
		u, err := Lock(t.Context())
		if err == nil {
			got <- u
		}
	}()
	unlock()
	select {
	case u := <-got:
		u()
	case <-time.After(time.Minute):
		t.Fatal("the lock was released but the waiter never got it")
	}
}
