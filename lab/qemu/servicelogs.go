package qemu

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/api/common"
	"github.com/siderolabs/talos/pkg/machinery/client"
)

// fallbackServices are read when a node does not list its services: the ones every control
// plane node runs.
var fallbackServices = []string{"etcd", "kube-apiserver"}

// serviceLogTail bounds what is read of one service's log.
const serviceLogTail = 2000

// serviceLogTimeout bounds one node's ServiceList or one service's log read: a twin's
// ServiceList runs its health checks (5 s each, at once) and a loaded TCG guest is slow.
const serviceLogTimeout = 20 * time.Second

// saveServiceLogs reads the log of every service each node reports (etcd, kube-apiserver and,
// on a twin that runs pods, containerd, the kubelet, kube-proxy, the controller manager and the
// scheduler) through the machinery API, into nodes/<node>/<service>.log, before the teardown
// stops the VMs and they are lost. A node that does not list its services gets
// fallbackServices read. Each read is bounded; what cannot be read is skipped. It returns where
// they went, for the error message.
func (l *lab) saveServiceLogs(ctx context.Context) string {
	names := NodeNames(NodeCount)
	var wg sync.WaitGroup
	for i, c := range l.clients {
		if i >= len(names) || c == nil {
			break
		}
		dir := NodePaths(l.Dir, names[i]).Dir
		wg.Go(func() {
			ids, err := listServices(ctx, c)
			if err != nil || len(ids) == 0 {
				ids = fallbackServices
			}
			for svc, data := range readServiceLogs(ctx, c, ids) {
				_ = os.WriteFile(filepath.Join(dir, svc+".log"), data, 0o600) // best effort: the lab is failing already
			}
		})
	}
	wg.Wait()
	return filepath.Join(l.Dir, "nodes", "*", "*.log")
}

// listServices is serviceIDs bounded by serviceLogTimeout.
func listServices(ctx context.Context, c *client.Client) ([]string, error) {
	ctx, cancel := context.WithTimeout(ctx, serviceLogTimeout)
	defer cancel()
	return serviceIDs(ctx, c)
}

// readServiceLogs reads the log of each service in ids from node c, each read bounded by
// serviceLogTimeout; services without a log (the twin's API itself) and reads that returned
// nothing are left out.
func readServiceLogs(ctx context.Context, c *client.Client, ids []string) map[string][]byte {
	out := map[string][]byte{}
	for _, id := range ids {
		if ctx.Err() != nil || !safeServiceID(id) {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, serviceLogTimeout)
		data, _ := serviceLog(rctx, c, id) // what was read before a failure still tells something
		cancel()
		if len(data) > 0 {
			out[id] = data
		}
	}
	return out
}

// safeServiceID tells a service id that can name a file.
func safeServiceID(id string) bool {
	return id != "" && id != "." && id != ".." && !strings.ContainsAny(id, `/\`)
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
