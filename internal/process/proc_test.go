package process

import (
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCPUTimeOfThisProcess(t *testing.T) {
	before, err := CPUTime(os.Getpid())
	require.NoError(t, err)
	for start := time.Now(); time.Since(start) < 300*time.Millisecond; { //nolint:revive // burn CPU on purpose
	}
	after, err := CPUTime(os.Getpid())
	require.NoError(t, err)
	assert.Greater(t, after, before, "a busy process's CPU time grows")
	_, err = CPUTime(1 << 30)
	assert.Error(t, err, "no such process")
}
