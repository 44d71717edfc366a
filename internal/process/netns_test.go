package process

import (
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A Spec with NetNS starts inside that namespace; the next one starts back in ours.
func TestStartInNetworkNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Fatal("entering a network namespace needs root: run the tests as root")
	}
	holder := exec.Command("sleep", "300")
	holder.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	require.NoError(t, holder.Start())
	t.Cleanup(func() { _ = holder.Process.Kill(); _ = holder.Wait() })
	nsPath := fmt.Sprintf("/proc/%d/ns/net", holder.Process.Pid)
	want, err := os.Readlink(nsPath)
	require.NoError(t, err)
	ours, err := os.Readlink("/proc/self/ns/net")
	require.NoError(t, err)
	require.NotEqual(t, ours, want)

	g, err := NewGroup(t.TempDir())
	require.NoError(t, err)
	t.Cleanup(func() { _ = g.Stop(t.Context()) })
	inside, err := g.Start(Spec{Name: "inside", Path: "sleep", Args: []string{"300"}, NetNS: nsPath})
	require.NoError(t, err)
	outside, err := g.Start(Spec{Name: "outside", Path: "sleep", Args: []string{"300"}})
	require.NoError(t, err)
	got, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", inside.Pid()))
	require.NoError(t, err)
	assert.Equal(t, want, got, "started in the namespace")
	got, err = os.Readlink(fmt.Sprintf("/proc/%d/ns/net", outside.Pid()))
	require.NoError(t, err)
	assert.Equal(t, ours, got, "the spawner returned to its own namespace")

	_, err = g.Start(Spec{Name: "nowhere", Path: "sleep", Args: []string{"1"}, NetNS: "/nonexistent/ns"})
	assert.ErrorContains(t, err, "open network namespace /nonexistent/ns")
}
