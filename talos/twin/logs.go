package twin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/api/machine"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// LogReader is a Node that keeps its services' output; the twin's Logs call serves it.
type LogReader interface {
	// ServiceLog returns what service id has written so far; an error wrapping os.ErrNotExist
	// when the node has no such service log.
	ServiceLog(ctx context.Context, id string) ([]byte, error)
}

// Logs streams a service's log, as `talosctl logs <id>` reads it. Following is not supported:
// the twin answers with what was written so far.
func (t *Twin) Logs(req *machine.LogsRequest, stream grpc.ServerStreamingServer[common.Data]) error {
	lr, ok := t.node.(LogReader)
	if !ok {
		return status.Error(codes.Unimplemented, "this node keeps no service logs")
	}

	if req.GetFollow() {
		return status.Error(codes.Unimplemented, "logs: follow is not supported by the twin; read without -f")
	}

	data, err := lr.ServiceLog(stream.Context(), req.GetId())
	if errors.Is(err, os.ErrNotExist) {
		return status.Error(codes.NotFound, err.Error())
	}

	if err != nil {
		return nodeError(err)
	}

	for chunk := range slices.Chunk(tailLines(data, int(req.GetTailLines())), kubeconfigChunk) {
		if err := stream.Send(&common.Data{Metadata: t.metadata(), Bytes: chunk}); err != nil {
			return fmt.Errorf("send log of %s: %w", req.GetId(), err)
		}
	}

	return nil
}

// tailLines keeps the last n lines of data; n < 0 keeps everything, as talosctl's default -1.
func tailLines(data []byte, n int) []byte {
	if n < 0 {
		return data
	}

	if n == 0 {
		return nil
	}

	trimmed := bytes.TrimSuffix(data, []byte("\n"))
	for i := len(trimmed) - 1; i >= 0; i-- {
		if trimmed[i] == '\n' {
			n--
			if n <= 0 {
				return data[i+1:]
			}
		}
	}

	return data
}

// ServiceLog implements LogReader for every service the node runs (etcd, kube-apiserver and,
// as a Kubernetes node, its Kubernetes programs).
func (n *ProcessNode) ServiceLog(_ context.Context, id string) ([]byte, error) {
	if !slices.Contains(serviceIDs, id) {
		return nil, fmt.Errorf("read log of %s: no such service (%s): %w", id, strings.Join(serviceIDs, ", "), os.ErrNotExist)
	}

	data, err := os.ReadFile(n.layout.log(id))
	if err != nil {
		return nil, fmt.Errorf("read log of %s: %w", id, err)
	}

	return data, nil
}

// serviceIDs are the services a ProcessNode may run.
var serviceIDs = []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "containerd", "kubelet", "kube-proxy"}
