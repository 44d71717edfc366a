package twin

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"
)

// ImageStore is a Node whose container runtime keeps the images its kubelet runs: the twin's
// ImageService (`talosctl image pull|list|remove`) serves it. Only the CRI namespace exists on a
// twin; a real Talos node also has a system containerd.
type ImageStore interface {
	// PullImage pulls ref into the CRI (through the node's registry mirrors, as the kubelet
	// pulls); ErrNotReady while the runtime is not running.
	PullImage(ctx context.Context, ref string) error
	// ListImages lists the CRI's images; ErrNotReady while the runtime is not running.
	ListImages(ctx context.Context) ([]Image, error)
	// RemoveImage removes ref from the CRI; removing an image it does not have is no error.
	RemoveImage(ctx context.Context, ref string) error
}

// Image is one image of a node's CRI, as ImageService.List reports it.
type Image struct {
	// Name is one reference (repo:tag, or repo@digest when it has no tag).
	Name string
	// Digest is the image's ID (its config digest).
	Digest string
	// Size is the image's size in bytes, as the runtime reports it.
	Size int64
}

// imageService is the twin's machinery ImageService: pull, list and remove on the node's CRI.
type imageService struct {
	machine.UnimplementedImageServiceServer

	twin *Twin
}

// store returns the node's ImageStore after checking the request names the CRI namespace.
func (s imageService) store(inst *common.ContainerdInstance) (ImageStore, error) {
	st, ok := s.twin.node.(ImageStore)
	if !ok {
		return nil, status.Error(codes.Unimplemented, "this node runs no container runtime")
	}

	if ns := inst.GetNamespace(); ns != common.ContainerdNamespace_NS_CRI {
		return nil, status.Errorf(codes.InvalidArgument,
			"containerd namespace %s: a twin has only the CRI's (talosctl image --namespace cri)", ns)
	}

	return st, nil
}

// Pull pulls the image and answers with its name once it is in the CRI. The CRI's pull call
// reports no progress, so no progress messages are sent; the call holds until the pull ends.
func (s imageService) Pull(req *machine.ImageServicePullRequest, stream grpc.ServerStreamingServer[machine.ImageServicePullResponse]) error {
	st, err := s.store(req.GetContainerd())
	if err != nil {
		return err
	}

	if req.GetImageRef() == "" {
		return status.Error(codes.InvalidArgument, "image pull: no image reference")
	}

	start := time.Now()

	if err := st.PullImage(stream.Context(), req.GetImageRef()); err != nil {
		return imageError(fmt.Errorf("pull %s after %s: %w", req.GetImageRef(), time.Since(start).Round(time.Millisecond), err))
	}

	return stream.Send(&machine.ImageServicePullResponse{Response: &machine.ImageServicePullResponse_Name{Name: req.GetImageRef()}})
}

// List streams the CRI's images, one message per name.
func (s imageService) List(req *machine.ImageServiceListRequest, stream grpc.ServerStreamingServer[machine.ImageServiceListResponse]) error {
	st, err := s.store(req.GetContainerd())
	if err != nil {
		return err
	}

	images, err := st.ListImages(stream.Context())
	if err != nil {
		return imageError(fmt.Errorf("list images: %w", err))
	}

	for _, img := range images {
		if err := stream.Send(&machine.ImageServiceListResponse{Name: img.Name, Digest: img.Digest, Size: img.Size}); err != nil {
			return fmt.Errorf("send image list: %w", err)
		}
	}

	return nil
}

// Remove removes the image from the CRI, as `talosctl image remove` does.
func (s imageService) Remove(ctx context.Context, req *machine.ImageServiceRemoveRequest) (*emptypb.Empty, error) {
	st, err := s.store(req.GetContainerd())
	if err != nil {
		return nil, err
	}

	if req.GetImageRef() == "" {
		return nil, status.Error(codes.InvalidArgument, "image remove: no image reference")
	}

	if err := st.RemoveImage(ctx, req.GetImageRef()); err != nil {
		return nil, imageError(fmt.Errorf("remove %s: %w", req.GetImageRef(), err))
	}

	return &emptypb.Empty{}, nil
}

// imageError keeps a runtime's gRPC status (NotFound for an unknown image, Unavailable, ...)
// and the message, and maps the rest as every node error.
func imageError(err error) error {
	if errors.Is(err, ErrNotReady) {
		return nodeError(err)
	}

	var se interface{ GRPCStatus() *status.Status }
	if errors.As(err, &se) {
		return status.Error(se.GRPCStatus().Code(), err.Error())
	}

	return nodeError(err)
}
