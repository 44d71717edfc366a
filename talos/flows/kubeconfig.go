package flows

import (
	"context"
	"fmt"

	"github.com/siderolabs/talos/pkg/machinery/client"
)

// Kubeconfig fetches the admin kubeconfig from node, waiting while Kubernetes is not up yet.
func Kubeconfig(ctx context.Context, node string, c *client.Client, p Poll, r Reporter) ([]byte, error) {
	var kubeconfig []byte

	err := Wait(ctx, Condition{
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
