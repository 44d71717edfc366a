package realnode

import (
	"bufio"
	"bytes"
	"context"
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

// Fixed paths the kubelet and containerd use whatever their configuration says. Clean removes
// this node's entries in them, and each directory when it is left empty.
var fixedDirs = []string{
	"/run/containerd/s", "/run/containerd/fifo", "/run/containerd/runc", "/run/containerd",
	"/var/lib/kubelet/device-plugins", "/var/lib/kubelet/plugins_registry", "/var/lib/kubelet",
	"/var/log/containers", "/var/lib/cni/results", "/var/lib/cni",
}

// Clean removes everything a real node made, from its run directory and plan alone, whether
// Start finished or not and whether its processes still run: the shims and containers (by
// their cgroups), every mount under dir (the kubelet's root, container filesystems, the pods'
// and the node's network namespaces), the host link, this node's entries in the fixed paths,
// and — once no other real node is left on this host — the kernel sysctls the kubelet changed.
// The caller stops the kubelet, kube-proxy and containerd first (its process group) and
// removes dir after.
func Clean(dir string, plan Plan) error {
	p := pathsIn(dir)
	var errs []error
	errs = append(errs, killShims(p.Socket))
	errs = append(errs, removeCgroupRoot(plan.CgroupRoot))
	errs = append(errs, unmountUnder(dir))
	errs = append(errs, removeNamespace(p.netns))
	errs = append(errs, removeLink(plan))
	errs = append(errs, removeFixedEntries(dir, plan))
	errs = append(errs, releaseSysctls(dir))
	return errors.Join(errs...)
}

// killShims kills the containerd shims serving the containerd at socket (they outlive it:
// containerd starts them detached).
func killShims(socket string) error {
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	var killed []int
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		raw, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil {
			continue
		}
		args := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(args) == 0 || !strings.HasPrefix(filepath.Base(args[0]), "containerd-shim") {
			continue
		}
		if i := slices.Index(args, "-address"); i >= 0 && i+1 < len(args) && args[i+1] == socket {
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				killed = append(killed, pid)
			}
		}
	}
	gone := condition.Condition{Name: "the node's shims gone", Check: func(context.Context) error {
		for _, pid := range killed {
			if alive(pid) {
				return fmt.Errorf("containerd shim %d still runs after SIGKILL", pid)
			}
		}
		return nil
	}}
	return condition.Wait(context.Background(), gone, condition.Poll{Interval: 20 * time.Millisecond, Timeout: 30 * time.Second}, nil)
}

// alive reports whether pid runs (a zombie has ended: only its parent's wait is missing).
func alive(pid int) bool {
	raw, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	_, rest, ok := strings.Cut(string(raw), ") ")
	return ok && !strings.HasPrefix(rest, "Z") && !strings.HasPrefix(rest, "X")
}

// mountsUnder lists the mount points at or under dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(raw))
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	slices.SortFunc(out, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	return slices.Compact(out), sc.Err()
}

// unmountUnder detaches every mount at or under dir; a mount stacked twice is unmounted until
// none is left.
func unmountUnder(dir string) error {
	if dir == "" || dir == "/" {
		return fmt.Errorf("refusing to unmount everything under %q", dir)
	}
	for range 5 {
		mps, err := mountsUnder(dir)
		if err != nil {
			return err
		}
		if len(mps) == 0 {
			return nil
		}
		for _, mp := range mps {
			if err := unix.Unmount(mp, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
				return fmt.Errorf("unmount %s: %w", mp, err)
			}
		}
	}
	mps, _ := mountsUnder(dir)
	if len(mps) > 0 {
		return fmt.Errorf("still mounted after unmounting: %v", mps)
	}
	return nil
}

// removeFixedEntries removes this node's entries in the fixed paths — container log links into
// its directory, its CNI results, sockets nobody listens on — and each fixed directory left empty.
func removeFixedEntries(dir string, plan Plan) error {
	var errs []error
	if links, err := os.ReadDir("/var/log/containers"); err == nil {
		for _, l := range links {
			path := filepath.Join("/var/log/containers", l.Name())
			if target, err := os.Readlink(path); err == nil && strings.HasPrefix(target, dir+"/") {
				errs = append(errs, os.Remove(path))
			}
		}
	}
	results, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", cniNetwork(plan)+"-*"))
	// containerd's own loopback network caches a result per pod sandbox, named by its id.
	sandboxes, _ := filepath.Glob(filepath.Join(dir, "containerd", "*", "io.containerd.grpc.v1.cri", "sandboxes", "*"))
	for _, sb := range sandboxes {
		more, _ := filepath.Glob(filepath.Join("/var/lib/cni/results", "cni-loopback-"+filepath.Base(sb)+"-*"))
		results = append(results, more...)
	}
	for _, r := range slices.Compact(slices.Sorted(slices.Values(results))) {
		if err := os.Remove(r); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	listening := listeningSockets()
	for _, d := range []string{"/run/containerd/s", "/var/lib/kubelet/device-plugins", "/var/lib/kubelet/plugins_registry"} {
		entries, _ := os.ReadDir(d)
		for _, e := range entries {
			path := filepath.Join(d, e.Name())
			if e.Type()&fs.ModeSocket != 0 && !listening[path] {
				errs = append(errs, os.Remove(path))
			}
		}
	}
	for _, d := range fixedDirs {
		if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, unix.ENOTEMPTY) && !errors.Is(err, unix.EEXIST) {
			errs = append(errs, fmt.Errorf("remove %s: %w", d, err))
		}
	}
	return errors.Join(errs...)
}

// listeningSockets are the paths of the unix sockets some process listens on, in any network
// namespace (/proc/net/unix shows only the reader's: another lab's shims listen in their node's).
func listeningSockets() map[string]bool {
	out := map[string]bool{}
	seen := map[string]bool{}
	procs, _ := os.ReadDir("/proc")
	for _, e := range append([]fs.DirEntry{nil}, procs...) {
		table := "/proc/net/unix"
		if e != nil {
			if _, err := strconv.Atoi(e.Name()); err != nil {
				continue
			}
			ns, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net"))
			if err != nil || seen[ns] {
				continue
			}
			seen[ns] = true
			table = filepath.Join("/proc", e.Name(), "net", "unix")
		}
		raw, err := os.ReadFile(table)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			// Num RefCount Protocol Flags Type St Inode Path; flags 00010000 is __SO_ACCEPTCON.
			if len(f) >= 8 && f[3] == "00010000" {
				out[f[7]] = true
			}
		}
	}
	return out
}
