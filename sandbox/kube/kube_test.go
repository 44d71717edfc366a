package kube

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"k8s.io/client-go/tools/remotecommand"
)

// TestSandboxGone tells the runtimes' messages for a sandbox that is gone (the connection is
// stale) from a refused port (only the stream failed). The refused message is containerd 1.6's
// as a lab's real node reports it.
func TestSandboxGone(t *testing.T) {
	for msg, gone := range map[string]bool{
		`error forwarding port 9999 to pod 2006e2d3, uid : failed to execute portforward in network namespace "/run/netns/cni-1f": ` +
			`failed to connect to localhost:9999 inside namespace "2006e2d3", IPv4: dial tcp4 127.0.0.1:9999: connect: connection refused`: false,
		`error forwarding port 1080 to pod 2006e2d3, uid : network namespace for sandbox "2006e2d3" is closed`:    true,
		`error forwarding port 1080 to pod 2006e2d3, uid : failed to find sandbox "2006e2d3" in store: not found`: true,
		`error forwarding port 1080 to pod 2006e2d3, uid : sandbox 2006e2d3 is not running`:                       true,
	} {
		assert.Equal(t, gone, sandboxGone(msg) != "", msg)
	}
}

// TestSizeQueueKeepsTheLatest: a size not yet read is replaced by a newer one, and Next ends
// with nil once the queue's context does.
func TestSizeQueueKeepsTheLatest(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	q := &sizeQueue{ctx: ctx, sizes: make(chan remotecommand.TerminalSize, 1)}
	q.push(remotecommand.TerminalSize{Width: 80, Height: 24})
	q.push(remotecommand.TerminalSize{Width: 100, Height: 40})
	assert.Equal(t, &remotecommand.TerminalSize{Width: 100, Height: 40}, q.Next())
	cancel()
	assert.Nil(t, q.Next())
}

// TestDeadline: a deadline in the past has passed; one in the future passes when due, on the
// channel a waiter already holds, unless it is moved or cleared first.
func TestDeadline(t *testing.T) {
	d := newDeadline()
	assert.False(t, d.passed(), "no deadline")
	d.set(time.Now().Add(-time.Second))
	assert.True(t, d.passed())
	d.set(time.Time{})
	assert.False(t, d.passed(), "cleared")

	d.set(time.Now().Add(time.Hour))
	held := d.wait()
	d.set(time.Now().Add(20 * time.Millisecond))
	select {
	case <-held:
	case <-time.After(10 * time.Second):
		t.Fatal("a deadline moved nearer did not pass on the channel a waiter held")
	}
	assert.True(t, d.passed())

	d.set(time.Now().Add(20 * time.Millisecond))
	d.set(time.Now().Add(time.Hour))
	assert.False(t, isClosed(d.wait()), "moved away before it passed")
	assert.True(t, d.isSet())
	d.set(time.Time{})
	assert.False(t, d.isSet())
}
