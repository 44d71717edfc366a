package realnode

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cozylab/cozylab/internal/condition"
)

// cgroupMounts lists the mount points of every cgroup hierarchy (v1 controllers and the v2
// unified one) in this mount namespace.
func cgroupMounts() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// 36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		fstype, _, _ := strings.Cut(post, " ")
		fields := strings.Fields(pre)
		if (fstype == "cgroup" || fstype == "cgroup2") && len(fields) > 4 {
			out = append(out, unescapeMount(fields[4]))
		}
	}
	return out, sc.Err()
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			var c byte
			if _, err := fmt.Sscanf(s[i+1:i+4], "%03o", &c); err == nil {
				b.WriteByte(c)
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ensureCgroupRoot creates the kubelet's cgroup root in every hierarchy (the kubelet refuses a
// root that does not exist); a new cpuset cgroup gets its parent's CPUs and memory nodes.
func ensureCgroupRoot(root string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	for _, m := range mounts {
		dir := filepath.Join(m, root)
		if err := os.Mkdir(dir, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			own := filepath.Join(dir, f)
			if cur, err := os.ReadFile(own); err != nil || strings.TrimSpace(string(cur)) != "" {
				continue
			}
			parent, err := os.ReadFile(filepath.Join(m, f))
			if err != nil {
				continue
			}
			if err := os.WriteFile(own, parent, 0o644); err != nil {
				return fmt.Errorf("set %s: %w", own, err)
			}
		}
	}
	return nil
}

// removeCgroupRoot kills every process left in the cgroup root's tree (the pods' containers),
// in every hierarchy, and removes the tree bottom-up.
func removeCgroupRoot(root string) error {
	mounts, err := cgroupMounts()
	if err != nil {
		return fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	var errs []error
	for _, m := range mounts {
		top := filepath.Join(m, root)
		var dirs []string
		_ = filepath.WalkDir(top, func(path string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, path)
			}
			return nil
		})
		slices.Reverse(dirs) // children first
		for _, d := range dirs {
			errs = append(errs, emptyCgroup(d))
		}
	}
	return errors.Join(errs...)
}

// emptyCgroup kills the cgroup's processes until none is left, and removes it.
func emptyCgroup(dir string) error {
	removed := condition.Condition{Name: "cgroup " + dir + " removed", Check: func(context.Context) error {
		err := unix.Rmdir(dir)
		switch {
		case err == nil || errors.Is(err, unix.ENOENT):
			return nil
		case !errors.Is(err, unix.EBUSY):
			return condition.Permanent(fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
		raw, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		for _, f := range strings.Fields(string(raw)) {
			if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		return fmt.Errorf("cgroup %s still holds processes (killed)", dir)
	}}
	return condition.Wait(context.Background(), removed, condition.Poll{Interval: 50 * time.Millisecond, Timeout: 30 * time.Second}, nil)
}

// The kubelet sets these kernel sysctls at start (vm.overcommit_memory 0→1, kernel.panic 1→10,
// kernel.panic_on_oops 0→1); they are global, so the values from before the first real node
// on this host are kept host-wide, with the labs whose nodes ran, and restored when the last
// of them is cleaned.
var kubeletSysctls = []string{"vm/overcommit_memory", "kernel/panic", "kernel/panic_on_oops"}

// sysctlRecord is the host-wide record of the kubelet sysctls' values before any real node.
type sysctlRecord struct {
	Original map[string]string `json:"original"`
	Labs     []string          `json:"labs"`
}

// SysctlRecordDir holds the host-wide record of the kubelet sysctls' original values.
const SysctlRecordDir = "/run/cozylab"

func withSysctlRecord(fn func(r *sysctlRecord) error) error {
	if err := os.MkdirAll(SysctlRecordDir, 0o700); err != nil {
		return fmt.Errorf("create %s: %w", SysctlRecordDir, err)
	}
	lock, err := os.OpenFile(filepath.Join(SysctlRecordDir, "sysctls.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lock.Close()
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX); err != nil {
		return fmt.Errorf("lock the sysctl record: %w", err)
	}
	path := filepath.Join(SysctlRecordDir, "sysctls.json")
	r := &sysctlRecord{}
	if raw, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(raw, r); err != nil {
			return fmt.Errorf("read %s: %w (remove it once no lab runs)", path, err)
		}
	}
	if err := fn(r); err != nil {
		return err
	}
	if len(r.Labs) == 0 {
		err := errors.Join(os.Remove(path), os.Remove(lock.Name()))
		_ = os.Remove(SysctlRecordDir) // only when empty
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		return err
	}
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, raw, 0o600)
}

// recordSysctls adds the node's directory to the record, reading the original values first
// when it is the first.
func recordSysctls(dir string) error {
	return withSysctlRecord(func(r *sysctlRecord) error {
		r.Labs = slices.DeleteFunc(r.Labs, gone) // labs removed without a Clean
		if len(r.Labs) == 0 {
			r.Original = map[string]string{}
			for _, k := range kubeletSysctls {
				v, err := os.ReadFile(filepath.Join("/proc/sys", k))
				if err != nil {
					return fmt.Errorf("read sysctl %s: %w", k, err)
				}
				r.Original[k] = strings.TrimSpace(string(v))
			}
		}
		if !slices.Contains(r.Labs, dir) {
			r.Labs = append(r.Labs, dir)
		}
		return nil
	})
}

// releaseSysctls removes the node's directory from the record and, when no other real node is
// left, restores the original values.
func releaseSysctls(dir string) error {
	return withSysctlRecord(func(r *sysctlRecord) error {
		r.Labs = slices.DeleteFunc(r.Labs, func(l string) bool { return l == dir || gone(l) })
		if len(r.Labs) > 0 {
			return nil
		}
		var errs []error
		for k, v := range r.Original {
			if err := os.WriteFile(filepath.Join("/proc/sys", k), []byte(v), 0o644); err != nil {
				errs = append(errs, fmt.Errorf("restore sysctl %s=%s: %w", k, v, err))
			}
		}
		return errors.Join(errs...)
	})
}

func gone(dir string) bool {
	_, err := os.Stat(dir)
	return errors.Is(err, fs.ErrNotExist)
}
