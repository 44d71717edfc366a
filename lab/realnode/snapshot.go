package realnode

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
)

// QEMUTablePrefix starts the nftables tables of QEMU labs (lab/qemu/network.TablePrefix, which
// this package may not import); Snapshot leaves them out.
const QEMUTablePrefix = "cozylab-"

// HostState is what a real node may change on the host, for before/after comparisons of the
// labs a test runs. Other test packages run labs beside this one: what is theirs is left out
// (processes, mounts, links and cgroups not of these labs, QEMU labs' links and tables), and the
// shared fixed paths and sysctls are compared only while no other real node runs.
type HostState struct {
	Processes []string // the labs' processes: naming their directory, or in their cgroups
	Mounts    []string // under the labs' directory
	Links     []string // the labs' links
	Tables    []string // nftables tables (iptables-nft's included) of the host's namespace
	Rules     int      // rules in them
	Cgroups   []string // the labs' cgroup roots, in every hierarchy
	Shared    *SharedState
}

// SharedState is what every real node on the host shares.
type SharedState struct {
	Sysctls map[string]string
	Paths   []string // the fixed paths that exist, and the CNI results in them
}

// otherNodes are the real nodes on the host (by the sysctl record) that are not under root.
func otherNodes(root string) ([]string, error) {
	var others []string
	err := withSysctlRecord(func(r *sysctlRecord) error {
		for _, l := range r.Labs {
			if !strings.HasPrefix(l, root+"/") && !gone(l) {
				others = append(others, l)
			}
		}
		return nil
	})
	return others, err
}

// Snapshot is what the real nodes of labs (lab names; their directories under root) have on
// the host now, and — while no other real node runs — what all real nodes share.
func Snapshot(root string, labs ...string) (HostState, error) {
	var s HostState
	var roots, links []string
	for _, lab := range labs {
		short := shortName(lab)
		roots, links = append(roots, "/"+CgroupPrefix+short), append(links, LinkPrefix+short)
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return s, err
	}
	for _, e := range procs {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !alive(pid) {
			continue // a zombie has ended; init reaps it
		}
		cmdline, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		cgroups, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cgroup"))
		mine := strings.Contains(string(cmdline), root)
		for _, r := range roots {
			mine = mine || strings.Contains(string(cgroups), ":"+r+"/")
		}
		if mine {
			s.Processes = append(s.Processes, strings.ReplaceAll(string(cmdline), "\x00", " "))
		}
	}
	raw, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if f := strings.Fields(line); len(f) > 4 && strings.HasPrefix(f[4], root) {
			s.Mounts = append(s.Mounts, f[4])
		}
	}
	all, err := netlink.LinkList()
	if err != nil {
		return s, err
	}
	for _, l := range all {
		if slices.Contains(links, l.Attrs().Name) {
			s.Links = append(s.Links, l.Attrs().Name)
		}
	}
	nft, err := nftables.New()
	if err != nil {
		return s, err
	}
	tables, err := nft.ListTables()
	if err != nil {
		return s, err
	}
	chains, err := nft.ListChains()
	if err != nil {
		return s, err
	}
	for _, tb := range tables {
		if strings.HasPrefix(tb.Name, QEMUTablePrefix) {
			continue // a QEMU lab's: not a real node's business
		}
		s.Tables = append(s.Tables, tb.Name)
		for _, ch := range chains {
			if ch.Table.Name == tb.Name && ch.Table.Family == tb.Family {
				rules, err := nft.GetRules(tb, ch)
				if err != nil {
					return s, err
				}
				s.Rules += len(rules)
			}
		}
	}
	mounts, err := cgroupMounts()
	if err != nil {
		return s, err
	}
	for _, m := range mounts {
		for _, r := range roots {
			if _, err := os.Stat(filepath.Join(m, r)); err == nil {
				s.Cgroups = append(s.Cgroups, filepath.Join(m, r))
			}
		}
	}
	others, err := otherNodes(root)
	if err != nil {
		return s, err
	}
	if len(others) == 0 {
		sh := &SharedState{Sysctls: map[string]string{}}
		for _, k := range kubeletSysctls {
			v, err := os.ReadFile(filepath.Join("/proc/sys", k))
			if err != nil {
				return s, err
			}
			sh.Sysctls[k] = strings.TrimSpace(string(v))
		}
		for _, d := range append(fixedDirs, SysctlRecordDir) {
			if _, err := os.Stat(d); err == nil {
				sh.Paths = append(sh.Paths, d)
			}
		}
		if entries, err := os.ReadDir("/var/lib/cni/results"); err == nil {
			for _, e := range entries {
				sh.Paths = append(sh.Paths, "/var/lib/cni/results/"+e.Name())
			}
		}
		slices.Sort(sh.Paths)
		s.Shared = sh
	}
	for _, l := range [][]string{s.Processes, s.Mounts, s.Links, s.Tables, s.Cgroups} {
		slices.Sort(l)
	}
	return s, nil
}

// Comparable returns the two snapshots ready to compare: the shared part is dropped from both
// when one lacks it (another real node ran meanwhile); shared says whether it was kept.
func Comparable(before, after HostState) (b, a HostState, shared bool) {
	if before.Shared == nil || after.Shared == nil {
		before.Shared, after.Shared = nil, nil
		return before, after, false
	}
	return before, after, true
}
