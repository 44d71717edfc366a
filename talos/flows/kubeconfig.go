package flows

import (
	"context"
	"fmt"

	"github.com/siderolabs/talos/pkg/machinery/client"

	"github.com/cozylab/cozylab/internal/condition"
)

// Kubeconfig fetches the admin kubeconfig from node, waiting while Kubernetes is not up yet.
func Kubeconfig(ctx context.Context, node string, c *client.Client, p condition.Poll, r condition.Reporter) ([]byte, error) {
	var kubeconfig []byte

	err := condition.Wait(ctx, condition.Condition{
		Name: fmt.Sprintf("kubeconfig available from %s", node),
		Check: func(ctx context.Context) error {
			b, err := c.Kubeconfig(ctx)
			if err != nil {
				return err
			}

			kubeconfig = b

			return nil
		},
	}, p, r)
	if err != nil {
		return nil, fmt.Errorf("fetch kubeconfig: %w", err)
	}

	return kubeconfig, nil
}
