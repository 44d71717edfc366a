package flows_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/talos/flows"
	"github.com/cozylab/cozylab/talos/internal/twintest"
	"github.com/cozylab/cozylab/talos/twin"
)

// fast keeps waits against a loopback twin short; the bound only matters when a test fails.
var fast = condition.Poll{Interval: 10 * time.Millisecond, Timeout: 20 * time.Second, AttemptTimeout: 5 * time.Second}

// recorder is a condition.Reporter that remembers which conditions held.
type recorder struct {
	mu   sync.Mutex
	done []string
}

func (r *recorder) Waiting(string, error) {}

func (r *recorder) Done(c string) {
	r.mu.Lock()
	defer r.mu.Unlock()

	r.done = append(r.done, c)
}

// bootstrapNode fails its first Bootstrap calls with err, then behaves like MemoryNode.
type bootstrapNode struct {
	*twin.MemoryNode

	mu       sync.Mutex
	failures int
	err      error
	calls    int
}

func (n *bootstrapNode) Bootstrap(ctx context.Context) error {
	n.mu.Lock()
	n.calls++
	fail := n.calls <= n.failures
	n.mu.Unlock()

	if fail {
		return n.err
	}

	return n.MemoryNode.Bootstrap(ctx)
}

func (n *bootstrapNode) Calls() int {
	n.mu.Lock()
	defer n.mu.Unlock()

	return n.calls
}

func TestApplyInsecureThenSecureFlows(t *testing.T) {
	cl := twintest.NewCluster(t)
	node := twin.NewMemoryNode("cp-1")
	node.SetServices(twin.Service{ID: "etcd", State: "Preparing", HealthUnknown: true})
	tw, addr := twintest.Start(t, node, nil)
	ctx := twintest.CallCtx(t)
	rec := &recorder{}

	require.NoError(t, flows.ApplyInsecure(ctx, addr, cl.Config, fast, rec))
	assert.False(t, tw.Maintenance())

	c := twintest.SecureClient(t, cl.Talosconfig, addr)
	require.NoError(t, condition.Wait(ctx, flows.APIReady("cp-1", c), fast, rec))
	require.NoError(t, flows.Bootstrap(ctx, "cp-1", c, flows.BootstrapTiming{Ready: fast, Retry: fast}, rec))

	bootstraps, _, _ := node.Counts()
	assert.Equal(t, 1, bootstraps)
	assert.Contains(t, rec.done, "Talos API on cp-1 answers")
	assert.Contains(t, rec.done, "service etcd is registered on cp-1")
	assert.Contains(t, rec.done, "etcd bootstrapped on cp-1")
}

func TestApplyInsecureGivesUpOnConfiguredNode(t *testing.T) {
	cl := twintest.NewCluster(t)
	_, addr := twintest.Start(t, twin.NewMemoryNode("cp-1"), cl.Config)

	short := condition.Poll{Interval: 10 * time.Millisecond, Timeout: 300 * time.Millisecond, AttemptTimeout: time.Second}
	err := flows.ApplyInsecure(twintest.CallCtx(t), addr, cl.Config, short, nil)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "wait for config applied to "+addr+" in maintenance mode")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "retried until the bound: any error counts as transient")
}

func TestBootstrapRetriesTransientErrors(t *testing.T) {
	for _, tc := range []struct {
		name      string
		err       error
		wantCalls int
		wantErr   string
	}{
		{name: "not ready is retried", err: fmt.Errorf("etcd is starting: %w", twin.ErrNotReady), wantCalls: 3},
		{name: "other errors are fatal", err: errors.New("disk on fire"), wantCalls: 1, wantErr: "disk on fire"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl := twintest.NewCluster(t)
			node := &bootstrapNode{MemoryNode: twin.NewMemoryNode("cp-1"), failures: 2, err: tc.err}
			node.SetServices(twin.Service{ID: "etcd", State: "Preparing"})
			_, addr := twintest.Start(t, node, cl.Config)
			c := twintest.SecureClient(t, cl.Talosconfig, addr)

			err := flows.Bootstrap(twintest.CallCtx(t), "cp-1", c, flows.BootstrapTiming{Ready: fast, Retry: fast}, nil)
			if tc.wantErr == "" {
				require.NoError(t, err)
			} else {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)
			}

			assert.Equal(t, tc.wantCalls, node.Calls())
		})
	}
}

func TestBootstrapSkipsBootstrappedCluster(t *testing.T) {
	cl := twintest.NewCluster(t)
	node := &bootstrapNode{MemoryNode: twin.NewMemoryNode("cp-1")}
	node.SetServices(twin.Service{ID: "etcd", State: "Running", Healthy: true})
	node.SetEtcdMembers(twin.EtcdMember{ID: 1, Hostname: "cp-1"})
	_, addr := twintest.Start(t, node, cl.Config)
	c := twintest.SecureClient(t, cl.Talosconfig, addr)

	require.NoError(t, flows.Bootstrap(twintest.CallCtx(t), "cp-1", c, flows.BootstrapTiming{Ready: fast, Retry: fast}, nil))
	assert.Equal(t, 0, node.Calls(), "a cluster with etcd members is not bootstrapped again")
}

func TestKubeconfig(t *testing.T) {
	cl := twintest.NewCluster(t)
	node := twin.NewMemoryNode("cp-1")
	node.SetKubeconfig([]byte("apiVersion: v1\nkind: Config\n"))
	_, addr := twintest.Start(t, node, cl.Config)
	c := twintest.SecureClient(t, cl.Talosconfig, addr)

	got, err := flows.Kubeconfig(twintest.CallCtx(t), "cp-1", c, fast, nil)
	require.NoError(t, err)
	assert.Equal(t, "apiVersion: v1\nkind: Config\n", string(got))
}

func TestEtcdMembersCondition(t *testing.T) {
	cl := twintest.NewCluster(t)
	node := twin.NewMemoryNode("cp-1")
	_, addr := twintest.Start(t, node, cl.Config)
	c := twintest.SecureClient(t, cl.Talosconfig, addr)
	ctx := twintest.CallCtx(t)
	cond := flows.EtcdMembers(c, 3)

	assert.Equal(t, "etcd has 3 members", cond.Name)

	node.SetEtcdMembers(
		twin.EtcdMember{ID: 1, Hostname: "cp-1"},
		twin.EtcdMember{ID: 2, Hostname: "cp-2"},
		twin.EtcdMember{ID: 3, Hostname: "cp-3", IsLearner: true},
	)
	err := cond.Check(ctx)
	require.Error(t, err)
	assert.Equal(t, "etcd has 2 members (cp-1, cp-2)", err.Error())

	node.SetEtcdMembers(
		twin.EtcdMember{ID: 1, Hostname: "cp-1"},
		twin.EtcdMember{ID: 2, Hostname: "cp-2"},
		twin.EtcdMember{ID: 3, Hostname: "cp-3"},
	)
	require.NoError(t, condition.Wait(ctx, cond, fast, nil))
}

func TestServiceHealthyConditions(t *testing.T) {
	cl := twintest.NewCluster(t)
	node := twin.NewMemoryNode("cp-1")
	_, addr := twintest.Start(t, node, cl.Config)
	c := twintest.SecureClient(t, cl.Talosconfig, addr)
	ctx := twintest.CallCtx(t)

	for _, tc := range []struct {
		name    string
		service twin.Service
		wantErr string
	}{
		{name: "missing", wantErr: "service etcd is not listed"},
		{name: "preparing", service: twin.Service{ID: "etcd", State: "Preparing"}, wantErr: "service etcd is Preparing"},
		{name: "health unknown", service: twin.Service{ID: "etcd", State: "Running", HealthUnknown: true}, wantErr: "not known yet"},
		{name: "unhealthy", service: twin.Service{ID: "etcd", State: "Running", Message: "no quorum"}, wantErr: "unhealthy: no quorum"},
		{name: "healthy", service: twin.Service{ID: "etcd", State: "Running", Healthy: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.service.ID != "" {
				node.SetServices(tc.service)
			} else {
				node.SetServices()
			}

			conds := flows.ServicesHealthy("cp-1", c, "etcd")
			require.Len(t, conds, 1)
			assert.Equal(t, "service etcd is healthy on cp-1", conds[0].Name)

			err := conds[0].Check(ctx)
			if tc.wantErr == "" {
				require.NoError(t, err)

				return
			}

			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.wantErr)
		})
	}
}
