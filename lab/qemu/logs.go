package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"github.com/siderolabs/talos/pkg/machinery/client"
	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"google.golang.org/grpc/codes"

	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/state"
	"github.com/cozylab/cozylab/talos/flows"
	"github.com/cozylab/cozylab/talos/machineconfig"
)

// CollectLogs implements provider.Backend: every node's serial log (<node>-serial.log), the
// service logs a failed lab:up saved, then the service logs of every node that answers now,
// read through the machinery API (<node>-<service>.log: etcd, kube-apiserver and, on twins,
// containerd, the kubelet, kube-proxy …) with the images in its CRI (<node>-images.txt), and the QEMU logs of the run directory; each copy
// and read bounded by ctx.
func (backend) CollectLogs(ctx context.Context, store *state.Store, dir string) error {
	labDir := store.Dir()
	type log struct{ from, to string }
	var logs []log
	for _, name := range NodeNames(NodeCount) {
		p := NodePaths(labDir, name)
		logs = append(logs, log{p.Serial, name + "-serial.log"})
		saved, _ := filepath.Glob(filepath.Join(p.Dir, "*.log"))
		for _, s := range saved {
			if s != p.Serial {
				logs = append(logs, log{s, name + "-" + filepath.Base(s)})
			}
		}
	}
	qemuLogs, _ := filepath.Glob(filepath.Join(labDir, "run", "*", "*.log"))
	for _, l := range qemuLogs {
		logs = append(logs, log{l, "qemu-" + filepath.Base(l)})
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("collect logs: %w", err)
	}
	var errs []error
	for _, l := range logs {
		if ctx.Err() != nil {
			return errors.Join(append(errs, fmt.Errorf("collect logs: %w", ctx.Err()))...)
		}
		errs = append(errs, provider.CopyLog(l.from, filepath.Join(dir, l.to)))
	}
	return errors.Join(append(errs, collectLiveServiceLogs(ctx, store, dir))...)
}

// collectLiveServiceLogs reads, from every node whose VM runs, in parallel, the log of each
// service it lists into dir/<node>-<service>.log. A lab without a network plan or talosconfig
// has no node to ask; a running node that does not answer is an error naming it.
func collectLiveServiceLogs(ctx context.Context, store *state.Store, dir string) error {
	plan, err := recordedPlan(store)
	if err != nil {
		return nil // no network: no node ever ran
	}
	path := filepath.Join(store.Dir(), "talosconfig")
	if _, err := os.Stat(path); err != nil {
		return nil // the configs were never generated
	}
	tc, err := machineconfig.LoadTalosconfig(path)
	if err != nil {
		return fmt.Errorf("collect service logs: %w", err)
	}
	names := NodeNames(len(plan.Nodes))
	errs := make([]error, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		if pid, _ := runningQEMU(NodePaths(store.Dir(), name).Pidfile); pid == 0 {
			continue // its VM is gone, and the logs with it
		}
		wg.Go(func() { errs[i] = collectNodeServiceLogs(ctx, tc, name, plan.Nodes[i].Addr.String(), dir) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// collectNodeServiceLogs writes the logs of the services node name (at addr) lists to dir.
func collectNodeServiceLogs(ctx context.Context, tc *clientconfig.Config, name, addr, dir string) error {
	c, err := client.New(ctx, client.WithConfig(tc), client.WithEndpoints(addr))
	if err != nil {
		return fmt.Errorf("collect service logs of %s: %w", name, err)
	}
	ids, err := listServices(ctx, c)
	if err != nil {
		return errors.Join(fmt.Errorf("collect service logs of %s: %w", name, err), c.Close())
	}
	errs := []error{}
	// The images the node's CRI holds: what a pod stuck pulling did not find.
	if names, err := flows.Images(ctx, c); err == nil {
		errs = append(errs, os.WriteFile(filepath.Join(dir, name+"-images.txt"), []byte(strings.Join(names, "\n")+"\n"), 0o600))
	} else if client.StatusCode(err) != codes.Unimplemented {
		errs = append(errs, fmt.Errorf("list the images of %s: %w", name, err))
	}
	for svc, data := range readServiceLogs(ctx, c, ids) {
		if err := os.WriteFile(filepath.Join(dir, name+"-"+svc+".log"), data, 0o600); err != nil {
			errs = append(errs, fmt.Errorf("collect the %s log of %s: %w", svc, name, err))
		}
	}
	return errors.Join(append(errs, c.Close())...)
}
