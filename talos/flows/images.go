package flows

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
)

// criNamespace is the containerd the kubelet runs pods with (`talosctl image --namespace cri`).
var criNamespace = &common.ContainerdInstance{Driver: common.ContainerDriver_CRI, Namespace: common.ContainerdNamespace_NS_CRI}

// Images lists the names of the images in the node's CRI.
func Images(ctx context.Context, c *client.Client) ([]string, error) {
	stream, err := c.ImageClient.List(ctx, &machine.ImageServiceListRequest{Containerd: criNamespace})
	if err != nil {
		return nil, fmt.Errorf("list images: %w", err)
	}

	var names []string

	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return names, nil
		}

		if err != nil {
			return names, fmt.Errorf("list images: %w", err)
		}

		names = append(names, m.GetName())
	}
}
