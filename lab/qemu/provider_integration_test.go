//go:build integration

package qemu

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	xproxy "golang.org/x/net/proxy"
	corev1 "k8s.io/api/core/v1"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/clusterdns"
	"github.com/cozylab/cozylab/lab/daemon"
	"github.com/cozylab/cozylab/lab/images"
	"github.com/cozylab/cozylab/lab/provider/providertest"
	"github.com/cozylab/cozylab/lab/proxy"
	"github.com/cozylab/cozylab/lab/qemu/network"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/lab/state"
	"github.com/cozylab/cozylab/talos/flows"
	"github.com/cozylab/cozylab/talos/machineconfig"
)

// labBound bounds the whole Up, checks and Down: three twins under TCG on a shared 2-core host
// reach the Kubernetes API in about a minute, then build the lab's images (cached after the
// first run), register their kubelets and run CoreDNS in minutes; the pod network's checks and
// a twin's reboot take minutes more (measured: 12 minutes alone, 23 beside the sandbox's tests
// in go run mage.go test). The bound is for a slow, busy host, not an expectation.
const labBound = 40 * time.Minute

func requireHost(t *testing.T) {
	t.Helper()
	require.Zero(t, os.Geteuid(), "the QEMU lab needs root (bridge, taps, nftables): run the test as root")
	_, err := exec.LookPath(vm.Binary)
	require.NoError(t, err, "qemu-system-x86_64 is missing: apt-get install qemu-system-x86")
	_, err = FindKernel()
	require.NoError(t, err, "no guest kernel: apt-get install linux-image-amd64")
	providertest.Exclusive(t, "qemu")
}

// The real provider: Up boots three twins, etcd has three members, the Kubernetes API answers
// through the kubeconfig on the VIP; Down leaves no QEMU, no network and no state.
func TestProviderUpDown(t *testing.T) {
	requireHost(t)
	repo, err := filepath.Abs("../..")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), labBound)
	defer cancel()

	p := testLab(t, "qit", repo)
	names, err := network.NamesFor(p.Request.Name)
	require.NoError(t, err)
	dir := p.Dir()
	t.Cleanup(func() {
		if t.Failed() {
			logLab(t, p)
		}
		assert.NoError(t, p.Down(context.Background(), progress.Discard), "down after a failure")
	})

	rec := &progress.Recorder{}
	require.NoError(t, p.Up(ctx, rec))
	assert.True(t, hasStep(rec, "Accelerator: "), "the output says which accelerator it used")
	assert.True(t, hasStep(rec, "Node image: twin"), "the output says it used the twin")

	st, err := p.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "up", st.Phase)
	for _, c := range st.Components {
		assert.True(t, c.Running, "%s runs", c.Name)
	}

	tc, err := machineconfig.LoadTalosconfig(filepath.Join(dir, "talosconfig"))
	require.NoError(t, err)
	c, err := client.New(ctx, client.WithConfig(tc), client.WithEndpoints(st.Nodes[1].Address))
	require.NoError(t, err)
	defer c.Close()
	// What the lab reached must hold after its up, but a loaded host makes any single call slow
	// (one /version took more than its 10 s in a full test run): each check gets a bounded wait.
	settle := func(c condition.Condition) error {
		return condition.Wait(ctx, c, condition.Poll{Interval: 2 * time.Second, Timeout: 5 * time.Minute, AttemptTimeout: 30 * time.Second}, nil)
	}
	require.NoError(t, settle(flows.EtcdMembers(c, 3)), "etcd has three members, as srv2 sees it")

	var answer string
	answers, err := KubernetesAnswers(p.Kubeconfig(), &answer)
	require.NoError(t, err)
	require.NoError(t, settle(answers))
	assert.Contains(t, answer, "namespaces")

	// The twins run pods: each guest's size is said, their kubelets registered them Ready,
	// CoreDNS is Available, and their service logs (the kubelet's among them) are collected
	// from the running nodes.
	assert.Contains(t, strings.Join(rec.Statuses(ActionBoot), "\n"), sizeLine(NodeCount, NodeMemoryMiB, NodeCPUs, hostMemory(), "TCG"))
	kc, err := (&lab{Dir: dir}).kubeClient()
	require.NoError(t, err)
	require.NoError(t, settle(condition.Condition{Name: "every twin is a Ready node", Check: func(ctx context.Context) error {
		nodes := &corev1.NodeList{}
		if err := kc.List(ctx, nodes); err != nil {
			return err
		}
		seen := map[string]*corev1.Node{}
		for i := range nodes.Items {
			seen[nodes.Items[i].Name] = &nodes.Items[i]
		}
		if problems := nodeProblems(NodeNames(NodeCount), seen); len(problems) > 0 {
			return fmt.Errorf("%v", problems)
		}
		return nil
	}}))
	require.NoError(t, settle(clusterdns.Available(kc)))
	logs := t.TempDir()
	require.NoError(t, p.CollectLogs(ctx, logs))
	var allImages []string
	for _, n := range NodeNames(NodeCount) {
		assert.FileExists(t, filepath.Join(logs, n+"-kubelet.log"))
		assert.FileExists(t, filepath.Join(logs, n+"-containerd.log"))
		listed, err := os.ReadFile(filepath.Join(logs, n+"-images.txt"))
		require.NoError(t, err, "the images of %s's CRI are collected", n)
		allImages = append(allImages, strings.Fields(string(listed))...)
	}
	coredns, err := images.Lookup(images.CoreDNS)
	require.NoError(t, err)
	assert.Contains(t, allImages, coredns.Upstream, "the node running CoreDNS lists its image")
	peaks, err := p.GuestPeaks()
	require.NoError(t, err)
	assert.Len(t, peaks, NodeCount, "the peak memory of every running guest")

	checkPodNetwork(ctx, t, p)

	// The artifact registry serves on the bridge's gateway, where the nodes reach it, and the
	// harness gets it for the e2e's pushes.
	store, err := p.Open()
	require.NoError(t, err)
	f, err := state.LoadFacts[facts](store)
	require.NoError(t, err)
	direct := &http.Client{Transport: &http.Transport{}} // no proxy for the bridge
	resp, err := direct.Get("http://" + f.ClusterRegistry + "/v2/")
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	require.NoError(t, resp.Body.Close())
	reg, err := p.Registry()
	require.NoError(t, err)
	assert.Equal(t, f.Registry, reg)

	// The proxy reaches the lab's network by the names the lab gives: a node's Talos API and
	// the Kubernetes API on the shared address.
	dial, err := p.Dialer()
	require.NoError(t, err)
	px, err := proxy.Listen(proxy.Options{Addr: "127.0.0.1:0", Dial: dial})
	require.NoError(t, err)
	pctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- px.Serve(pctx) }()
	socks, err := xproxy.SOCKS5("tcp", px.Addr(), nil, xproxy.Direct)
	require.NoError(t, err)
	for _, target := range []string{"srv2:50000", "vip:6443"} {
		conn, err := socks.(xproxy.ContextDialer).DialContext(ctx, "tcp", target)
		require.NoError(t, err, "through the proxy to %s", target)
		require.NoError(t, conn.Close())
	}
	_, err = socks.(xproxy.ContextDialer).DialContext(ctx, "tcp", "srv2:1")
	assert.ErrorContains(t, err, "connection refused", "a closed port is refused, named")
	stop()
	require.NoError(t, <-served)

	if t.Failed() { // a subtest failed: its lab's logs, before the lab goes
		logLab(t, p)
	}
	require.NoError(t, p.Down(ctx, progress.Discard))
	noQEMUIn(t, dir)
	left, err := network.Inspect(names)
	require.NoError(t, err)
	assert.True(t, left.Empty(), "lab network left: %+v", left)
	assert.NoDirExists(t, dir)
}

// logLab prints the end of each node's serial, etcd, kubelet and kube-proxy logs and of the
// daemon's, read from the running lab.
func logLab(t *testing.T, p *Provider) {
	logs, err := os.MkdirTemp("", "qit-logs-")
	if err != nil {
		t.Logf("collect the lab's logs: %v", err)
		return
	}
	defer os.RemoveAll(logs)
	if err := p.CollectLogs(context.Background(), logs); err != nil {
		t.Logf("collect the lab's logs: %v", err)
	}
	for _, n := range NodeNames(NodeCount) {
		raw, _ := os.ReadFile(filepath.Join(logs, n+"-serial.log"))
		t.Logf("%s serial log (end):\n%s", n, tail(string(raw), 30))
		for _, svc := range []string{"etcd", "kubelet", "kube-proxy"} {
			raw, _ = os.ReadFile(filepath.Join(logs, n+"-"+svc+".log"))
			t.Logf("%s %s log (end):\n%s", n, svc, tail(string(raw), 15))
		}
	}
	raw, _ := os.ReadFile(filepath.Join(logs, "daemon.log"))
	t.Logf("daemon log (end):\n%s", tail(string(raw), 30))
}

// Down works from the state alone: with the daemon killed (SIGKILL, no teardown of its own),
// it removes the VMs a supervisor may have left, the network and the state. The daemon is killed
// in the middle of the bring-up, once every VM runs: the state is then at its most scattered.
func TestDownAfterTheDaemonWasKilled(t *testing.T) {
	requireHost(t)
	repo, err := filepath.Abs("../..")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), labBound)
	defer cancel()

	p := testLab(t, "qkd", repo)
	names, err := network.NamesFor(p.Request.Name)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, p.Down(context.Background(), progress.Discard)) })
	up := make(chan error, 1)
	go func() { up <- p.Up(ctx, progress.Discard) }()

	booted := func() bool {
		for _, n := range NodeNames(NodeCount) {
			if pid, _ := runningQEMU(NodePaths(p.Dir(), n).Pidfile); pid == 0 {
				return false
			}
		}
		return true
	}
	require.Eventually(t, booted, labBound, time.Second, "every VM runs")
	store, err := p.Open()
	require.NoError(t, err)
	id, ok := daemon.Recorded(store)
	require.True(t, ok)
	require.NoError(t, syscall.Kill(id.Pid, syscall.SIGKILL))
	require.Eventually(t, func() bool { return !id.Running() }, 10*time.Second, 100*time.Millisecond)
	assert.Error(t, <-up, "the bring-up fails when its daemon dies")
	st, err := network.Inspect(names)
	require.NoError(t, err)
	require.False(t, st.Empty(), "a killed daemon cannot remove its network")

	require.NoError(t, p.Down(ctx, progress.Discard))
	noQEMUIn(t, p.Dir())
	st, err = network.Inspect(names)
	require.NoError(t, err)
	assert.True(t, st.Empty(), "lab network left: %+v", st)
	assert.NoDirExists(t, p.Dir())
}

// testLab is a twin lab named prefix<pid> under a temporary root, as the edge would decide it
// here (no KVM: TCG).
func testLab(t *testing.T, prefix, repo string) *Provider {
	t.Helper()
	mem, cpus := NodeSize(NodeImageTwin)
	return New(t.TempDir(), state.Request{Name: fmt.Sprintf("%s%d", prefix, os.Getpid()%10000), Provider: ProviderName, RepoRoot: repo,
		QEMU: &state.QEMURequest{NodeImage: NodeImageTwin, KVMReason: "not probed in this test", MemoryMiB: mem, CPUs: cpus}})
}

func hasStep(rec *progress.Recorder, prefix string) bool {
	for _, r := range rec.Records() {
		if strings.HasPrefix(r.Title, prefix) {
			return true
		}
	}
	return false
}

// noQEMUIn fails for every QEMU still running whose command line names a file in dir (its
// pidfile, seed and sockets are all there).
func noQEMUIn(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err == nil && strings.Contains(string(cmdline), vm.Binary) && strings.Contains(string(cmdline), dir+"/") {
			t.Errorf("QEMU %d is left running: %s", pid, strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
