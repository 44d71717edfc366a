package twin

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimev1 "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// CRI is the image side of a containerd's CRI plugin at Socket, the one the kubelet pulls
// through: an image pulled here is the image the kubelet finds, and a pull goes through the
// registry mirrors of containerd's config, as the kubelet's do.
type CRI struct {
	// Socket is containerd's gRPC socket.
	Socket string
}

// dial connects to the socket (lazily: the first call fails if nothing answers).
func (c CRI) dial() (runtimev1.ImageServiceClient, func() error, error) {
	conn, err := grpc.NewClient("unix://"+c.Socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, fmt.Errorf("connect to containerd at %s: %w", c.Socket, err)
	}

	return runtimev1.NewImageServiceClient(conn), conn.Close, nil
}

// PullImage pulls ref.
func (c CRI) PullImage(ctx context.Context, ref string) error {
	images, closeConn, err := c.dial()
	if err != nil {
		return err
	}
	defer closeConn() //nolint:errcheck // nothing to do about a failed close

	_, err = images.PullImage(ctx, &runtimev1.PullImageRequest{Image: &runtimev1.ImageSpec{Image: ref}})

	return err
}

// RemoveImage removes ref; an image the CRI does not have is no error (the CRI's contract).
func (c CRI) RemoveImage(ctx context.Context, ref string) error {
	images, closeConn, err := c.dial()
	if err != nil {
		return err
	}
	defer closeConn() //nolint:errcheck // nothing to do about a failed close

	_, err = images.RemoveImage(ctx, &runtimev1.RemoveImageRequest{Image: &runtimev1.ImageSpec{Image: ref}})

	return err
}

// ListImages lists the CRI's images: one entry per tag, or per digest for an image without a
// tag, sorted by name.
func (c CRI) ListImages(ctx context.Context) ([]Image, error) {
	images, closeConn, err := c.dial()
	if err != nil {
		return nil, err
	}
	defer closeConn() //nolint:errcheck // nothing to do about a failed close

	resp, err := images.ListImages(ctx, &runtimev1.ListImagesRequest{})
	if err != nil {
		return nil, err
	}

	var out []Image

	for _, img := range resp.GetImages() {
		names := img.GetRepoTags()
		if len(names) == 0 {
			names = img.GetRepoDigests()
		}

		for _, name := range names {
			out = append(out, Image{Name: name, Digest: img.GetId(), Size: int64(img.GetSize())}) //nolint:gosec // sizes fit
		}
	}

	slices.SortFunc(out, func(a, b Image) int { return strings.Compare(a.Name, b.Name) })

	return out, nil
}
