package flows

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"google.golang.org/grpc/codes"

	"github.com/cozylab/cozylab/internal/condition"
)

// DefaultPoll suits a node booting in a VM: check twice a second for up to ten minutes, as
// talosctl's bootstrap wait does.
var DefaultPoll = condition.Poll{Interval: 500 * time.Millisecond, Timeout: 10 * time.Minute, AttemptTimeout: 2 * time.Second}

// BootstrapPoll is talosctl's bootstrap retry: every 100 ms for two minutes (backoff's default
// MaxDelay), each attempt bounded to 2 s.
var BootstrapPoll = condition.Poll{Interval: 100 * time.Millisecond, Timeout: 2 * time.Minute, AttemptTimeout: 2 * time.Second}

// BootstrapTiming bounds the two phases of Bootstrap.
type BootstrapTiming struct {
	// Ready bounds the wait for the node to be up and etcd to be registered.
	Ready condition.Poll
	// Retry bounds the Bootstrap calls themselves.
	Retry condition.Poll
}

// DefaultBootstrapTiming is talosctl's.
var DefaultBootstrapTiming = BootstrapTiming{Ready: DefaultPoll, Retry: BootstrapPoll}

// Bootstrap starts etcd on node through c, once per cluster.
//
// It waits for the API and for the etcd service to be registered (talosctl waits for the COSI
// MachineStatus instead; a twin does not serve COSI, and a registered etcd service is the same
// sign that the node runs its installed system). If etcd already lists members, the cluster
// was bootstrapped by an earlier run and nothing is done. Otherwise Bootstrap is retried on the
// errors talosctl treats as transient, and any other error ends it.
func Bootstrap(ctx context.Context, node string, c *client.Client, t BootstrapTiming, r condition.Reporter) error {
	if err := condition.WaitAll(ctx, []condition.Condition{APIReady(node, c), ServiceRegistered(node, c, "etcd")}, t.Ready, r); err != nil {
		return fmt.Errorf("bootstrap etcd on %s: %w", node, err)
	}

	if members, err := etcdVoters(ctx, c); err == nil && len(members) > 0 {
		return nil
	}

	err := condition.Wait(ctx, condition.Condition{
		Name: fmt.Sprintf("etcd bootstrapped on %s", node),
		Check: func(ctx context.Context) error {
			err := c.Bootstrap(ctx, &machine.BootstrapRequest{})
			if err != nil && !TransientBootstrapError(err) {
				return condition.Permanent(err)
			}

			return err
		},
	}, t.Retry, r)
	if err != nil {
		return fmt.Errorf("bootstrap etcd on %s: %w", node, err)
	}

	return nil
}

// TransientBootstrapError reports whether a Bootstrap error is one a booting node returns and
// a later attempt may not: the rules of talosctl's pkg/cluster/bootstrap.go.
func TransientBootstrapError(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}

	switch client.StatusCode(err) { //nolint:exhaustive // every other code is fatal
	case codes.FailedPrecondition, codes.DeadlineExceeded, codes.Canceled:
		return true
	}

	msg := err.Error()

	return strings.Contains(msg, "connection refused") || strings.Contains(msg, "error reading from server: EOF")
}
