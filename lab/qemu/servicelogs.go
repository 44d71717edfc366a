package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/client"
)

// nodeServices are the services whose logs a failed lab:up saves from each node.
var nodeServices = []string{"etcd", "kube-apiserver"}

// serviceLogTail bounds what is read of one service's log.
const serviceLogTail = 2000

// saveServiceLogs reads each node's etcd and kube-apiserver logs through the machinery API
// (the Logs call, as `talosctl logs` does) into nodes/<node>/<service>.log, before the
// teardown stops the VMs and they are lost. Each read is bounded; what cannot be read is
// skipped. It returns where they went, for the error message.
func (l *lab) saveServiceLogs(ctx context.Context) string {
	for i, c := range l.clients {
		if i >= len(l.plan.Nodes) {
			break
		}
		dir := NodePaths(l.Dir, NodeNames(NodeCount)[i]).Dir
		for _, svc := range nodeServices {
			rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
			data, err := serviceLog(rctx, c, svc)
			cancel()
			if err == nil && len(data) > 0 {
				_ = os.WriteFile(filepath.Join(dir, svc+".log"), data, 0o600) // best effort: the lab is failing already
			}
		}
	}
	return filepath.Join(l.Dir, "nodes", "*", "{etcd,kube-apiserver}.log")
}

func serviceLog(ctx context.Context, c *client.Client, id string) ([]byte, error) {
	stream, err := c.Logs(ctx, "", common.ContainerDriver_CONTAINERD, id, false, serviceLogTail)
	if err != nil {
		return nil, fmt.Errorf("read %s log: %w", id, err)
	}
	var out []byte
	for {
		d, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		} else if err != nil {
			return out, fmt.Errorf("read %s log: %w", id, err)
		}
		out = append(out, d.GetBytes()...)
	}
}
