package providertest

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A test that wants the host to itself waits while another holds the lock (here: an open
// descriptor, as another test binary would hold it) and goes on once that one lets go.
func TestExclusiveWaitsForTheHolder(t *testing.T) {
	kind := fmt.Sprintf("exclusive-test-%d", os.Getpid())
	path := filepath.Join(os.TempDir(), "cozylab-test-"+kind+".lock")
	t.Cleanup(func() { _ = os.Remove(path) })
	holder, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	require.NoError(t, err)
	require.NoError(t, syscall.Flock(int(holder.Fd()), syscall.LOCK_EX))

	took := make(chan time.Time, 1)
	go t.Run("waiter", func(t *testing.T) {
		Exclusive(t, kind)
		took <- time.Now()
	})
	select {
	case <-took:
		t.Fatal("the waiter took the lock while another test held it")
	case <-time.After(300 * time.Millisecond):
	}
	released := time.Now()
	require.NoError(t, holder.Close())
	assert.False(t, (<-took).Before(released), "the waiter went on only after the holder let go")
}
