//go:build integration

package choose

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/provider/providertest"
	"github.com/cozylab/cozylab/lab/qemu"
	"github.com/cozylab/cozylab/lab/qemu/network"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/lab/state"
)

// Environment of the test binary as a harness (providertest): `LAB_PROVIDER=qemu lab:up` as the
// magefile runs it — Decide, then Up — on the lab named nameEnv under the state root rootEnv.
const (
	rootEnv = "COZYLAB_TEST_LAB_ROOT"
	nameEnv = "COZYLAB_TEST_LAB_NAME"
	// qemuLogEnv is the file the QEMU wrapper appends each command line to.
	qemuLogEnv = "COZYLAB_TEST_QEMU_LOG"
)

func TestMain(m *testing.M) {
	if providertest.IsHarness() {
		os.Exit(harness())
	}
	os.Exit(m.Run())
}

func harness() int {
	ctx := context.Background()
	rep, err := providertest.HarnessReporter()
	if err == nil {
		var lab Lab
		lab, err = Decide(ctx, qemuSettings(os.Getenv(rootEnv), os.Getenv(nameEnv)))
		if err == nil {
			err = lab.Provider().Up(ctx, rep)
		}
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

func qemuSettings(root, name string) Settings {
	return Settings{Name: name, Provider: qemu.ProviderName, Root: root, RepoRoot: "../.."}
}

// TestQEMULabKilledAtThreeStepsResumes runs `LAB_PROVIDER=qemu lab:up` in harnesses SIGKILLed
// when the network is made, while the VMs boot, and once etcd is bootstrapped. Each next
// lab:up keeps what outlives the daemon (network, configs, seeds; named in its output), boots
// the VMs again and re-runs the idempotent Talos flows; the last converges. A wrapper around
// qemu-system-x86_64 counts the VMs: the first lab:up boots at most one KVM probe, the later
// ones (the lab exists) none. lab:down then leaves no QEMU, link, nftables table or directory.
func TestQEMULabKilledAtThreeStepsResumes(t *testing.T) {
	require.Zero(t, os.Geteuid(), "the QEMU lab needs root (bridge, taps, nftables): run the test as root")
	real, err := exec.LookPath(vm.Binary)
	require.NoError(t, err, "qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
	_, err = qemu.FindKernel()
	require.NoError(t, err, "no guest kernel: apt-get install linux-image-amd64")
	providertest.Exclusive(t, "qemu")

	bin := t.TempDir()
	wrapper := fmt.Sprintf("#!/bin/sh\nprintf '%%s\\n' \"$*\" >> \"$%s\"\nexec %s \"$@\"\n", qemuLogEnv, real)
	require.NoError(t, os.WriteFile(filepath.Join(bin, vm.Binary), []byte(wrapper), 0o755))

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Minute)
	defer cancel()
	root, name := t.TempDir(), fmt.Sprintf("qkc%d", os.Getpid()%10000)
	names, err := network.NamesFor(name)
	require.NoError(t, err)
	t.Cleanup(func() {
		if lab, err := Existing(qemuSettings(root, name)); err == nil {
			assert.NoError(t, lab.Provider().Down(context.Background(), progress.Discard))
		}
	})
	dir := filepath.Join(root, name)

	twin := state.QEMURequest{NodeImage: qemu.NodeImageTwin}
	actions := qemu.Actions(twin)
	index := func(name string) int {
		for i, a := range actions {
			if a.Name == name {
				return i
			}
		}
		t.Fatalf("no action %q", name)
		return -1
	}
	previous := 0
	for i, killAt := range []string{qemu.ActionRegistry, qemu.ActionAPIs, qemu.ActionEtcd} {
		log := filepath.Join(t.TempDir(), "qemu.log")
		j := providertest.Run(t, []string{rootEnv + "=" + root, nameEnv + "=" + name, qemuLogEnv + "=" + log,
			"PATH=" + bin + string(os.PathListSeparator) + os.Getenv("PATH")}, killAt)
		at := index(killAt)
		assert.Subset(t, j.Kept, providertest.Kept(actions[:previous]), "kill at %q: kept actions before the last kill are kept", killAt)
		assert.Subset(t, providertest.Kept(actions[:at]), j.Kept, "kill at %q: only kept actions before it are kept", killAt)
		probes, twins := countVMs(t, log)
		if i == 0 {
			assert.LessOrEqual(t, probes, 1, "a new lab's lab:up boots at most one probe VM")
		} else {
			assert.Zero(t, probes, "an existing lab keeps its request: no probe")
			assert.GreaterOrEqual(t, twins, qemu.NodeCount, "the wrapper sees the VMs it counts (kill at %q)", killAt)
		}
		require.Eventually(t, func() bool { return len(qemuIn(t, dir)) == 0 }, 3*time.Minute, 200*time.Millisecond,
			"VMs outlived their harness killed at %q: %v", killAt, qemuIn(t, dir))
		previous = at
	}

	lab, err := Decide(ctx, qemuSettings(root, name))
	require.NoError(t, err)
	rec := &progress.Recorder{}
	require.NoError(t, lab.Provider().Up(ctx, rec), "the next lab:up converges")
	assert.Equal(t, providertest.Kept(actions), providertest.KeptOf(rec), "what outlives the daemon is resumed, and named")
	st, err := lab.Provider().Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "up", st.Phase)

	require.NoError(t, lab.Provider().Down(ctx, progress.Discard))
	assert.Empty(t, qemuIn(t, dir))
	left, err := network.Inspect(names)
	require.NoError(t, err)
	assert.True(t, left.Empty(), "lab network left: %+v", left)
	assert.NoDirExists(t, dir)
}

// countVMs counts the VMs the wrapper saw started: under KVM (only the probe asks for it
// here) and under TCG (the twins).
func countVMs(t *testing.T, log string) (kvm, tcg int) {
	t.Helper()
	raw, err := os.ReadFile(log)
	if os.IsNotExist(err) {
		return 0, 0
	}
	require.NoError(t, err)
	return strings.Count(string(raw), "-accel kvm"), strings.Count(string(raw), "-accel tcg")
}

// qemuIn lists the QEMU processes whose command line names a file in dir.
func qemuIn(t *testing.T, dir string) []process.Running {
	t.Helper()
	all, err := process.FindMentioning(dir + "/")
	require.NoError(t, err)
	var out []process.Running
	for _, r := range all {
		if filepath.Base(r.Exe) == vm.Binary {
			out = append(out, r)
		}
	}
	return out
}
