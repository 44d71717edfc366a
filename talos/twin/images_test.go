package twin_test

import (
	"errors"
	"io"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"

	"github.com/cozylab/cozylab/talos/twin"
)

// criNamespace is what `talosctl image --namespace cri` sends.
var criNamespace = &common.ContainerdInstance{Driver: common.ContainerDriver_CRI, Namespace: common.ContainerdNamespace_NS_CRI}

// imageNode is a twin's node whose images are the CRI of a containerd.
type imageNode struct {
	*twin.MemoryNode
	twin.CRI
}

// pullImage pulls ref through the twin's ImageService and returns the names it answered.
func pullImage(t *testing.T, c *client.Client, ns *common.ContainerdInstance, ref string) ([]string, error) {
	t.Helper()

	stream, err := c.ImageClient.Pull(callCtx(t), &machine.ImageServicePullRequest{Containerd: ns, ImageRef: ref})
	if err != nil {
		return nil, err
	}

	return recvAll(stream, func(m *machine.ImageServicePullResponse) string { return m.GetName() })
}

// recvAll reads a server stream to its end, keeping what pick takes from each message.
func recvAll[M any](stream grpc.ServerStreamingClient[M], pick func(*M) string) ([]string, error) {
	var out []string

	for {
		m, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}

		if err != nil {
			return out, err
		}

		out = append(out, pick(m))
	}
}

func TestImageServiceNeedsARuntime(t *testing.T) {
	_, _, c := configuredTwin(t)

	_, err := pullImage(t, c, criNamespace, "registry.k8s.io/pause:3.10.1")
	requireCode(t, codes.Unimplemented, err)
	require.ErrorContains(t, err, "runs no container runtime")
}

func TestImageServiceHasOnlyTheCRINamespace(t *testing.T) {
	cl := newCluster(t)
	_, addr := startTwin(t, imageNode{twin.NewMemoryNode("cp-1"), twin.CRI{Socket: "/nonexistent.sock"}}, cl.Config)
	c := secureClient(t, cl.Talosconfig, addr)

	_, err := pullImage(t, c, &common.ContainerdInstance{Namespace: common.ContainerdNamespace_NS_SYSTEM}, "registry.k8s.io/pause:3.10.1")
	requireCode(t, codes.InvalidArgument, err)
	require.ErrorContains(t, err, "--namespace cri")

	_, err = pullImage(t, c, criNamespace, "")
	requireCode(t, codes.InvalidArgument, err)
}
