package process

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestProgramsMatches(t *testing.T) {
	p := Programs{Under: []string{"/cache/bin/"}, Named: []string{"qemu-system-x86_64"}}
	for _, tc := range []struct {
		exe  string
		want bool
	}{
		{"/cache/bin/etcd/v3.6.0/etcd", true},
		{"/cache/bin/etcd/v3.6.0/etcd (deleted)", true},
		{"/cache/binary", false},
		{"/usr/bin/qemu-system-x86_64", true},
		{"/opt/qemu/bin/qemu-system-x86_64 (deleted)", true},
		{"/usr/bin/qemu-system-aarch64", false},
		{"/usr/bin/bash", false},
	} {
		t.Run(tc.exe, func(t *testing.T) {
			assert.Equal(t, tc.want, p.matches(tc.exe))
		})
	}
	assert.False(t, Programs{Under: []string{""}}.matches("/usr/bin/bash"), "an empty directory selects nothing")
}

// TestBaselineKillsOnlyNewPrograms: a program running before the baseline (a developer's lab)
// is spared; one started after it, from the watched directory or under a watched name, is named
// and killed.
func TestBaselineKillsOnlyNewPrograms(t *testing.T) {
	cache := t.TempDir()
	tool := filepath.Join(cache, "tool")
	copyFile(t, os.Args[0], tool)
	// A unique name, so no other process on the machine matches it.
	named := fmt.Sprintf("cozylab-leftover-test-%d", os.Getpid())
	elsewhere := filepath.Join(t.TempDir(), named)
	copyFile(t, os.Args[0], elsewhere)
	programs := Programs{Under: []string{cache}, Named: []string{named}}

	g, err := NewGroup(filepath.Join(t.TempDir(), "run"))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, g.Stop(context.Background())) })
	sleeping := func(name, path string) *Process {
		p, err := g.Start(Spec{Name: name, Path: path, Env: []string{helperEnv + "=sleep"}})
		require.NoError(t, err)
		return p
	}
	before := sleeping("before", tool)

	base, err := programs.Baseline()
	require.NoError(t, err)
	fresh, err := base.New()
	require.NoError(t, err)
	assert.Empty(t, fresh, "what runs at the baseline is not new")
	require.NoError(t, base.KillNew())

	cached := sleeping("cached", tool)
	byName := sleeping("by-name", elsewhere)
	fresh, err = base.New()
	require.NoError(t, err)
	var pids []int
	for _, r := range fresh {
		pids = append(pids, r.Pid)
	}
	assert.ElementsMatch(t, []int{cached.Pid(), byName.Pid()}, pids)

	err = base.KillNew()
	var left *LeftoverError
	require.True(t, errors.As(err, &left), "KillNew returns a *LeftoverError, got %v", err)
	assert.Len(t, left.Processes, 2)
	assert.Contains(t, err.Error(), "2 processes left running (now killed):")
	assert.Contains(t, err.Error(), fmt.Sprintf("pid %d: %s", cached.Pid(), tool))
	assert.Contains(t, err.Error(), fmt.Sprintf("pid %d: %s", byName.Pid(), elsewhere))
	for _, p := range []*Process{cached, byName} {
		select {
		case <-p.Exited():
		case <-time.After(5 * time.Second):
			t.Fatalf("%s still runs after KillNew", p.Name)
		}
	}
	assert.True(t, Alive(before.Pid()), "a program running before the baseline is spared")
	require.NoError(t, base.KillNew(), "nothing new is left")
}
