package appdefcontroller

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	clocktesting "k8s.io/utils/clock/testing"
)

func TestDebouncer(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Unix(1000, 0))
	d := &debouncer{clock: clk, window: 5 * time.Second}

	seq, wait := d.remaining()
	assert.Equal(t, uint64(0), seq)
	assert.Zero(t, wait, "nothing changed: act at once")

	d.record()
	seq, wait = d.remaining()
	assert.Equal(t, uint64(1), seq)
	assert.Equal(t, 5*time.Second, wait)

	clk.SetTime(clk.Now().Add(3 * time.Second))
	_, wait = d.remaining()
	assert.Equal(t, 2*time.Second, wait)

	d.record() // another change restarts the window
	clk.SetTime(clk.Now().Add(4 * time.Second))
	seq, wait = d.remaining()
	assert.Equal(t, uint64(2), seq)
	assert.Equal(t, time.Second, wait)

	clk.SetTime(clk.Now().Add(time.Hour))
	_, wait = d.remaining()
	assert.Zero(t, wait)
	assert.Equal(t, uint64(2), d.changes())
}
