package qemu

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/state"
)

// CollectLogs implements provider.Backend: every node's serial log (<node>-serial.log), its
// service logs and the QEMU logs of the run directory, each copy bounded by ctx.
func (backend) CollectLogs(ctx context.Context, store *state.Store, dir string) error {
	labDir := store.Dir()
	type log struct{ from, to string }
	var logs []log
	for _, name := range NodeNames(NodeCount) {
		logs = append(logs, log{NodePaths(labDir, name).Serial, name + "-serial.log"})
		for _, svc := range nodeServices {
			logs = append(logs, log{filepath.Join(NodePaths(labDir, name).Dir, svc+".log"), name + "-" + svc + ".log"})
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
	return errors.Join(errs...)
}
