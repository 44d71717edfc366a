//go:build integration

package realnode

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/nftables"
	"github.com/stretchr/testify/require"
	"github.com/vishvananda/netlink"

	"github.com/cozylab/cozylab/lab/qemu/network"
)

// hostState is what a real node may change on the host, for before/after comparisons.
type hostState struct {
	Processes []string // names of the node's kind of programs running
	Mounts    []string
	Links     []string
	Tables    []string // nftables tables (iptables-nft's included) of the host's namespace
	Rules     int      // rules in them
	Sysctls   map[string]string
	Paths     []string // the fixed paths that exist
	Cgroups   []string // top-level cgroups, in every hierarchy
}

func snapshotHost(t *testing.T) hostState {
	t.Helper()
	var s hostState
	procs, err := os.ReadDir("/proc")
	require.NoError(t, err)
	for _, e := range procs {
		comm, err := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if err != nil {
			continue
		}
		if pid, err := strconv.Atoi(e.Name()); err != nil || !alive(pid) {
			continue // a zombie has ended; init reaps it
		}
		name := strings.TrimSpace(string(comm))
		for _, want := range []string{"containerd", "kubelet", "kube-proxy", "runc", "pause", "agent"} {
			if strings.HasPrefix(name, want) {
				s.Processes = append(s.Processes, name)
			}
		}
	}
	raw, err := os.ReadFile("/proc/self/mountinfo")
	require.NoError(t, err)
	for _, line := range strings.Split(strings.TrimSpace(string(raw)), "\n") {
		if f := strings.Fields(line); len(f) > 4 {
			s.Mounts = append(s.Mounts, f[4])
		}
	}
	// Other test packages run beside this one: QEMU labs make their own links (czl-…) and
	// nftables tables (cozylab-…); those are theirs to clean and are left out here.
	links, err := netlink.LinkList()
	require.NoError(t, err)
	for _, l := range links {
		if !strings.HasPrefix(l.Attrs().Name, network.LinkPrefix) {
			s.Links = append(s.Links, l.Attrs().Name)
		}
	}
	nft, err := nftables.New()
	require.NoError(t, err)
	tables, err := nft.ListTables()
	require.NoError(t, err)
	chains, err := nft.ListChains()
	require.NoError(t, err)
	for _, tb := range tables {
		if strings.HasPrefix(tb.Name, network.TablePrefix) {
			continue
		}
		s.Tables = append(s.Tables, tb.Name)
		for _, ch := range chains {
			if ch.Table.Name == tb.Name && ch.Table.Family == tb.Family {
				rules, err := nft.GetRules(tb, ch)
				require.NoError(t, err)
				s.Rules += len(rules)
			}
		}
	}
	s.Sysctls = map[string]string{}
	for _, k := range kubeletSysctls {
		v, err := os.ReadFile(filepath.Join("/proc/sys", k))
		require.NoError(t, err)
		s.Sysctls[k] = strings.TrimSpace(string(v))
	}
	for _, d := range append(fixedDirs, SysctlRecordDir) {
		if _, err := os.Stat(d); err == nil {
			s.Paths = append(s.Paths, d)
		}
	}
	if entries, err := os.ReadDir("/var/lib/cni/results"); err == nil {
		for _, e := range entries {
			s.Paths = append(s.Paths, "/var/lib/cni/results/"+e.Name())
		}
	}
	mounts, err := cgroupMounts()
	require.NoError(t, err)
	for _, m := range mounts {
		entries, _ := os.ReadDir(m)
		for _, e := range entries {
			if e.IsDir() {
				s.Cgroups = append(s.Cgroups, filepath.Join(m, e.Name()))
			}
		}
	}
	for _, l := range [][]string{s.Processes, s.Mounts, s.Links, s.Tables, s.Paths, s.Cgroups} {
		slices.Sort(l)
	}
	return s
}
