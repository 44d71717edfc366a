package flows

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"

	"github.com/cozylab/cozylab/internal/condition"
)

// ApplyPoll is talosctl's apply-config retry: every 250 ms for two minutes.
var ApplyPoll = condition.Poll{Interval: 250 * time.Millisecond, Timeout: 2 * time.Minute, AttemptTimeout: 10 * time.Second}

// ApplyInsecure sends cfg to a node in maintenance mode at endpoint (host or host:port).
//
// Only a node without a config answers without client certificates, so this is the one place an
// insecure client is used. Like talosctl, it builds a fresh client per attempt and retries any
// error: the node may still be booting its maintenance service.
func ApplyInsecure(ctx context.Context, endpoint string, cfg []byte, p condition.Poll, r condition.Reporter) error {
	return condition.Wait(ctx, condition.Condition{
		Name: fmt.Sprintf("config applied to %s in maintenance mode", endpoint),
		Check: func(ctx context.Context) error {
			c, err := client.New(ctx, client.WithEndpoints(endpoint),
				client.WithTLSConfig(&tls.Config{InsecureSkipVerify: true})) //nolint:gosec // maintenance mode has no trust yet
			if err != nil {
				return condition.Permanent(fmt.Errorf("create insecure client for %s: %w", endpoint, err))
			}

			_, err = c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{
				Data: cfg,
				Mode: machine.ApplyConfigurationRequest_AUTO,
			})

			return errors.Join(err, c.Close())
		},
	}, p, r)
}

// Apply sends cfg to a configured node over mTLS, once; a failure here is not transient.
func Apply(ctx context.Context, c *client.Client, cfg []byte, mode machine.ApplyConfigurationRequest_Mode) ([]string, error) {
	resp, err := c.ApplyConfiguration(ctx, &machine.ApplyConfigurationRequest{Data: cfg, Mode: mode})
	if err != nil {
		return nil, fmt.Errorf("apply config: %w", err)
	}

	var warnings []string
	for _, m := range resp.GetMessages() {
		warnings = append(warnings, m.GetWarnings()...)
	}

	return warnings, nil
}
