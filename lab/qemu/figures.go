package qemu

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/cozylab/cozylab/lab/provider"
)

var _ provider.Figures = (*Provider)(nil)

// GuestPeaks implements provider.Figures: the peak resident memory (VmHWM) of each node's QEMU
// still running, from its pidfile. Guest RAM is allocated as the guest touches it, so this is
// what the guest really used of what it was given, plus QEMU's own.
func (p *Provider) GuestPeaks() (map[string]uint64, error) {
	out := map[string]uint64{}
	var errs []error
	for _, name := range NodeNames(NodeCount) {
		pid, _ := runningQEMU(NodePaths(p.Dir(), name).Pidfile)
		if pid == 0 {
			continue
		}
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			errs = append(errs, fmt.Errorf("read the peak memory of VM %s: %w", name, err))
			continue
		}
		peak, err := vmHWM(raw)
		if err != nil {
			errs = append(errs, fmt.Errorf("read the peak memory of VM %s (pid %d): %w", name, pid, err))
			continue
		}
		out[name] = peak
	}
	return out, errors.Join(errs...)
}

// vmHWM reads the peak resident set size from a /proc/<pid>/status, in bytes.
func vmHWM(status []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(status))
	for sc.Scan() {
		v, ok := strings.CutPrefix(sc.Text(), "VmHWM:")
		if !ok {
			continue
		}
		num, unit, _ := strings.Cut(strings.TrimSpace(v), " ")
		if unit != "kB" {
			return 0, fmt.Errorf("VmHWM %q: unit is not kB", strings.TrimSpace(v))
		}
		kb, err := strconv.ParseUint(num, 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM %q: %w", strings.TrimSpace(v), err)
		}
		return kb << 10, nil
	}
	return 0, errors.New("no VmHWM line (a kernel thread, or a process that ended)")
}
