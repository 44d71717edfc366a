package process

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The test binary doubles as the supervised program: TestMain turns it into one of these
// helpers when COZYLAB_PROCESS_HELPER is set.
const helperEnv = "COZYLAB_PROCESS_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "":
		os.Exit(m.Run())
	case "sleep":
		select {}
	case "stubborn": // ignores SIGTERM, so Stop must escalate
		signal.Ignore(syscall.SIGTERM)
		fmt.Println("ignoring SIGTERM")
		select {}
	case "fail":
		fmt.Fprintln(os.Stderr, "boom: cannot bind 127.0.0.1:1")
		os.Exit(3)
	case "supervisor": // owns a group in $DIR with one sleeper, prints the sleeper's pid, waits to be killed
		g, err := NewGroup(os.Getenv("DIR"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		p, err := g.Start(sleeper("child"))
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		fmt.Println(p.Pid())
		select {}
	}
}

func helper(name, mode string) Spec {
	return Spec{Name: name, Path: os.Args[0], Env: []string{helperEnv + "=" + mode}}
}

func sleeper(name string) Spec { return helper(name, "sleep") }

func TestGroupStopsInReverseAndRecords(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	g, err := NewGroup(dir)
	require.NoError(t, err)
	a, err := g.Start(sleeper("a"))
	require.NoError(t, err)
	b, err := g.Start(sleeper("b"))
	require.NoError(t, err)
	assert.True(t, Alive(a.Pid()))
	assert.True(t, Alive(b.Pid()))

	pids, err := os.ReadFile(filepath.Join(dir, pidsFile))
	require.NoError(t, err)
	assert.Contains(t, string(pids), fmt.Sprintf("%d ", a.Pid()))
	assert.Contains(t, string(pids), fmt.Sprintf("%d ", b.Pid()))

	require.NoError(t, g.Stop(context.Background()))
	assert.False(t, Alive(a.Pid()))
	assert.False(t, Alive(b.Pid()))
	require.NoError(t, g.Stop(context.Background()), "a second Stop is a no-op")
	_, err = g.Start(sleeper("c"))
	require.ErrorContains(t, err, "stopped")
}

func TestStopEscalatesToKill(t *testing.T) {
	g, err := NewGroup(filepath.Join(t.TempDir(), "run"))
	require.NoError(t, err)
	spec := helper("stubborn", "stubborn")
	spec.StopTimeout = 300 * time.Millisecond
	p, err := g.Start(spec)
	require.NoError(t, err)
	// Wait until it has installed its handler, or SIGTERM would kill it the default way.
	require.Eventually(t, func() bool { return strings.Contains(p.LogTail(1), "ignoring SIGTERM") }, 5*time.Second, 10*time.Millisecond)
	require.NoError(t, g.Stop(context.Background()))
	assert.False(t, Alive(p.Pid()))
	assert.ErrorContains(t, p.ExitError(), "signal: killed")
}

func TestExitIsObservedWithLog(t *testing.T) {
	g, err := NewGroup(filepath.Join(t.TempDir(), "run"))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, g.Stop(context.Background())) })
	p, err := g.Start(helper("failing", "fail"))
	require.NoError(t, err)
	select {
	case <-p.Exited():
	case <-time.After(10 * time.Second):
		t.Fatal("the failing helper did not exit")
	}
	assert.ErrorContains(t, p.ExitError(), "exit status 3")
	assert.Contains(t, p.LogTail(5), "boom: cannot bind")
}

func TestNewGroupRefusesALiveOwner(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run")
	g, err := NewGroup(dir)
	require.NoError(t, err)
	_, err = NewGroup(dir)
	require.ErrorContains(t, err, "another live process owns it")
	require.NoError(t, g.Stop(context.Background()))
	g2, err := NewGroup(dir)
	require.NoError(t, err, "once released, the directory can be owned again")
	require.NoError(t, g2.Stop(context.Background()))
}

// TestChildrenDieWithKilledSupervisor is the SIGKILL case: nothing of ours runs to clean up, yet
// the kernel (Pdeathsig) ends the children, and the next Sweep removes the directory.
func TestChildrenDieWithKilledSupervisor(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "run-killed")
	sup := exec.Command(os.Args[0])
	sup.Env = append(os.Environ(), helperEnv+"=supervisor", "DIR="+dir)
	out, err := sup.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, sup.Start())
	t.Cleanup(func() { _ = sup.Process.Kill(); _ = sup.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	child, err := strconv.Atoi(strings.TrimSpace(line))
	require.NoError(t, err, "supervisor said %q", line)
	require.True(t, Alive(child))

	require.NoError(t, sup.Process.Signal(syscall.SIGKILL))
	_ = sup.Wait()
	require.Eventually(t, func() bool { return !Alive(child) }, 5*time.Second, 20*time.Millisecond,
		"the child of a SIGKILLed supervisor must die with it")

	removed, err := Sweep(root)
	require.NoError(t, err)
	assert.Equal(t, []string{dir}, removed)
	assert.NoDirExists(t, dir)
}

func TestSweepKillsSurvivorsAndSparesLiveAndReusedPids(t *testing.T) {
	root := t.TempDir()
	live, err := NewGroup(filepath.Join(root, "live"))
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, live.Stop(context.Background())) })

	// A stale directory whose recorded process escaped Pdeathsig (started by someone else).
	survivor := exec.Command(os.Args[0])
	survivor.Env = append(os.Environ(), helperEnv+"=sleep")
	require.NoError(t, survivor.Start())
	t.Cleanup(func() { _ = survivor.Process.Kill(); _ = survivor.Wait() })
	st, err := startTime(survivor.Process.Pid)
	require.NoError(t, err)
	// An innocent process whose pid was "recorded" with another start time: a reused pid.
	innocent := exec.Command(os.Args[0])
	innocent.Env = append(os.Environ(), helperEnv+"=sleep")
	require.NoError(t, innocent.Start())
	t.Cleanup(func() { _ = innocent.Process.Kill(); _ = innocent.Wait() })

	stale := filepath.Join(root, "stale")
	require.NoError(t, os.MkdirAll(stale, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(stale, ownerLockFile), []byte("1\n"), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(stale, pidsFile),
		fmt.Appendf(nil, "%d %d survivor\n%d 1 innocent\n", survivor.Process.Pid, st, innocent.Process.Pid), 0o600))

	removed, err := Sweep(root)
	require.NoError(t, err)
	assert.Equal(t, []string{stale}, removed)
	assert.DirExists(t, live.Dir())
	_ = survivor.Wait() // reap it, so it is gone rather than a zombie
	assert.False(t, Alive(survivor.Process.Pid))
	assert.True(t, Alive(innocent.Process.Pid), "a pid whose start time differs belongs to someone else")
}

func TestFindByExecutable(t *testing.T) {
	binDir := t.TempDir()
	bin := filepath.Join(binDir, "tool")
	copyFile(t, os.Args[0], bin)
	g, err := NewGroup(filepath.Join(t.TempDir(), "run"))
	require.NoError(t, err)
	p, err := g.Start(Spec{Name: "tool", Path: bin, Env: []string{helperEnv + "=sleep"}})
	require.NoError(t, err)
	found, err := FindByExecutable(binDir)
	require.NoError(t, err)
	require.Len(t, found, 1)
	assert.Equal(t, p.Pid(), found[0].Pid)
	assert.Equal(t, bin, found[0].Exe)

	require.NoError(t, g.Stop(context.Background()))
	found, err = FindByExecutable(binDir)
	require.NoError(t, err)
	assert.Empty(t, found)
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	in, err := os.Open(from)
	require.NoError(t, err)
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY, 0o755)
	require.NoError(t, err)
	_, err = io.Copy(out, in)
	require.NoError(t, err)
	require.NoError(t, out.Close())
}
