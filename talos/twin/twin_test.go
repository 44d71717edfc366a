package twin_test

import (
	"context"
	"strings"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"

	"github.com/cozylab/cozylab/talos/internal/twintest"
)

// Short names for the shared helpers.
var (
	newCluster     = twintest.NewCluster
	startTwin      = twintest.Start
	callCtx        = twintest.CallCtx
	secureClient   = twintest.SecureClient
	insecureClient = twintest.InsecureClient
)

type cluster = twintest.Cluster

func requireCode(t *testing.T, want codes.Code, err error) {
	t.Helper()

	require.Error(t, err)
	require.Equal(t, want, client.StatusCode(err), "error: %v", err)
}

func apply(ctx context.Context, c *client.Client, cfg []byte) (*machine.ApplyConfigurationResponse, error) {
	return c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: cfg, Mode: machine.ApplyConfigurationRequest_AUTO})
}

// requireRefusedByServer checks that the twin refused the client's certificate. In TLS 1.3 the
// client learns of it only after its side of the handshake is done, so it sees either the
// server's alert or, when it writes first, the closed connection.
func requireRefusedByServer(t *testing.T, err error, alert string) {
	t.Helper()

	requireCode(t, codes.Unavailable, err)

	for _, msg := range []string{alert, "broken pipe", "connection reset by peer", "EOF"} {
		if strings.Contains(err.Error(), msg) {
			return
		}
	}

	require.Failf(t, "unexpected error", "want the TLS alert %q or a closed connection, got: %v", alert, err)
}
