package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cozylab/cozylab/lab/provider"
)

// CollectLogs implements provider.Provider: every node's serial log (<node>-serial.log), the
// QEMU logs of the run directory and the daemon's log, each copy bounded by ctx.
func (p *Provider) CollectLogs(ctx context.Context, dir string) error {
	type log struct{ from, to string }
	var logs []log
	for _, name := range NodeNames(NodeCount) {
		logs = append(logs, log{NodePaths(p.Dir(), name).Serial, name + "-serial.log"})
		for _, svc := range nodeServices {
			logs = append(logs, log{filepath.Join(NodePaths(p.Dir(), name).Dir, svc+".log"), name + "-" + svc + ".log"})
		}
	}
	qemuLogs, _ := filepath.Glob(filepath.Join(p.Dir(), "run", "*", "*.log"))
	for _, l := range qemuLogs {
		logs = append(logs, log{l, "qemu-" + filepath.Base(l)})
	}
	logs = append(logs, log{p.daemonLog(), "daemon.log"})
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
	return errors.Join(errs...)
}
