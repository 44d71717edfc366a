package flows

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"google.golang.org/grpc/codes"

	"github.com/cozylab/cozylab/internal/condition"
)

// criNamespace is the containerd the kubelet runs pods with (`talosctl image --namespace cri`).
var criNamespace = &common.ContainerdInstance{Driver: common.ContainerDriver_CRI, Namespace: common.ContainerdNamespace_NS_CRI}

// ImagePulled holds once node's CRI holds image ref: each check asks the node to pull it,
// through the node's registry mirrors, as `talosctl image pull` does (an image it already has
// is resolved again, quickly). A reference no registry has, or a node that cannot pull at all,
// ends the wait at once.
func ImagePulled(node string, c *client.Client, ref string) condition.Condition {
	return condition.Condition{
		Name: fmt.Sprintf("image %s pulled on %s", ref, node),
		Check: func(ctx context.Context) error {
			err := pullImage(ctx, c, ref)
			switch client.StatusCode(err) {
			case codes.NotFound, codes.InvalidArgument, codes.Unimplemented, codes.PermissionDenied:
				return condition.Permanent(err)
			}

			return err
		},
	}
}

// pullImage pulls ref into node's CRI and reads the answer to its end.
func pullImage(ctx context.Context, c *client.Client, ref string) error {
	stream, err := c.ImageClient.Pull(ctx, &machine.ImageServicePullRequest{Containerd: criNamespace, ImageRef: ref})
	if err != nil {
		return err
	}

	for {
		if _, err := stream.Recv(); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
	}
}

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
