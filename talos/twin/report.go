package twin

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"slices"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// kubeconfigChunk bounds each streamed message, like Talos's file streams.
const kubeconfigChunk = 32 * 1024

// ServiceList reports the services the node runs.
func (t *Twin) ServiceList(ctx context.Context, _ *emptypb.Empty) (*machine.ServiceListResponse, error) {
	services, err := t.node.Services(ctx)
	if err != nil {
		return nil, nodeError(err)
	}

	out := make([]*machine.ServiceInfo, 0, len(services))
	for _, s := range services {
		out = append(out, &machine.ServiceInfo{
			Id:     s.ID,
			State:  s.State,
			Events: &machine.ServiceEvents{},
			Health: &machine.ServiceHealth{Unknown: s.HealthUnknown, Healthy: s.Healthy, LastMessage: s.Message},
		})
	}

	return &machine.ServiceListResponse{Messages: []*machine.ServiceList{{Metadata: t.metadata(), Services: out}}}, nil
}

// EtcdMemberList reports the etcd members the node sees.
func (t *Twin) EtcdMemberList(ctx context.Context, _ *machine.EtcdMemberListRequest) (*machine.EtcdMemberListResponse, error) {
	members, err := t.node.EtcdMembers(ctx)
	if err != nil {
		return nil, nodeError(err)
	}

	out := make([]*machine.EtcdMember, 0, len(members))
	for _, m := range members {
		out = append(out, &machine.EtcdMember{
			Id: m.ID, Hostname: m.Hostname, PeerUrls: m.PeerURLs, ClientUrls: m.ClientURLs, IsLearner: m.IsLearner,
		})
	}

	return &machine.EtcdMemberListResponse{Messages: []*machine.EtcdMembers{{Metadata: t.metadata(), Members: out}}}, nil
}

// Kubeconfig streams the node's kubeconfig as a gzipped tar holding one file, the format the
// machinery client unpacks.
func (t *Twin) Kubeconfig(_ *emptypb.Empty, stream grpc.ServerStreamingServer[common.Data]) error {
	kubeconfig, err := t.node.Kubeconfig(stream.Context())
	if err != nil {
		return nodeError(err)
	}

	archive, err := tarGzip("kubeconfig", kubeconfig)
	if err != nil {
		return err
	}

	for chunk := range slices.Chunk(archive, kubeconfigChunk) {
		if err := stream.Send(&common.Data{Metadata: t.metadata(), Bytes: chunk}); err != nil {
			return fmt.Errorf("send kubeconfig: %w", err)
		}
	}

	return nil
}

// tarGzip packs one file into a gzipped tar.
func tarGzip(name string, data []byte) ([]byte, error) {
	var buf bytes.Buffer

	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)

	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
		return nil, fmt.Errorf("write tar header: %w", err)
	}

	if _, err := tw.Write(data); err != nil {
		return nil, fmt.Errorf("write tar: %w", err)
	}

	if err := tw.Close(); err != nil {
		return nil, fmt.Errorf("close tar: %w", err)
	}

	if err := gz.Close(); err != nil {
		return nil, fmt.Errorf("close gzip: %w", err)
	}

	return buf.Bytes(), nil
}

// Reboot asks the node to reboot.
func (t *Twin) Reboot(ctx context.Context, _ *machine.RebootRequest) (*machine.RebootResponse, error) {
	if err := t.node.Reboot(ctx); err != nil {
		return nil, nodeError(err)
	}

	return &machine.RebootResponse{Messages: []*machine.Reboot{{Metadata: t.metadata()}}}, nil
}

// Shutdown asks the node to power off.
func (t *Twin) Shutdown(ctx context.Context, req *machine.ShutdownRequest) (*machine.ShutdownResponse, error) {
	if err := t.node.Shutdown(ctx, req.GetForce()); err != nil {
		return nil, nodeError(err)
	}

	return &machine.ShutdownResponse{Messages: []*machine.Shutdown{{Metadata: t.metadata()}}}, nil
}
