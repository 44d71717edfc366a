package twinimage

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// DefaultModules are the modules a twin guest loads, in this order, each after its
// dependencies (from modules.dep). The guest has no modprobe, so a module the kernel would
// request on demand (an nftables expression, a table type) must be here. In groups:
//
//   - the machine: virtio PCI, network, disk and entropy; iso9660 for the NoCloud seed; SATA
//     CD-ROM support, so a seed attached with -cdrom on q35's AHCI is found as well as one on
//     virtio-blk; the ACPI power button with evdev, so a QMP system_powerdown shuts the twin
//     down cleanly.
//   - containers: overlay for containerd's snapshotter; veth and bridge for the bridge CNI
//     plugin's pod links; br_netfilter, so bridged pod traffic passes kube-proxy's rules.
//   - netfilter's core: crc32c_generic first — libcrc32c (which nf_conntrack and nf_tables
//     need) asks for a crc32c only through a softdep, which modules.dep does not list, and the
//     generic one loads on any CPU TCG emulates; then conntrack, its netlink interface
//     (kube-proxy clears stale UDP entries through it, as the conntrack tool does) and NAT.
//   - nf_tables for kube-proxy's nftables mode: NAT chains, DNAT and masquerade, conntrack
//     matches, fib (local addresses), numgen (random endpoint choice), reject and limit, for
//     the ip, ip6 and inet families.
//   - iptables-nft, which the kubelet (its canary chains) and the bridge and portmap plugins run:
//     nft_compat for the xtables matches and targets it cannot translate, the matches and
//     targets they use, and the legacy tables that tools probing for iptables look for.
var DefaultModules = []string{
	"virtio_pci", "virtio_net", "virtio_blk", "virtio-rng", "isofs", "ahci", "sr_mod", "button", "evdev",

	"overlay", "veth", "bridge", "br_netfilter",

	"crc32c_generic", "nfnetlink", "nf_conntrack", "nf_conntrack_netlink", "nf_nat",

	"nf_tables", "nft_chain_nat", "nft_nat", "nft_masq", "nft_ct",
	"nft_fib_inet", "nft_fib_ipv4", "nft_fib_ipv6", "nft_numgen",
	"nft_reject_inet", "nft_reject_ipv4", "nft_reject_ipv6", "nft_limit",

	"nft_compat", "ip_tables", "ip6_tables", "iptable_filter", "iptable_nat", "ip6table_filter", "ip6table_nat",
	"xt_conntrack", "xt_MASQUERADE", "xt_addrtype", "xt_comment", "xt_mark", "xt_nat", "xt_tcpudp",
	"xt_statistic", "xt_multiport", "nf_reject_ipv4", "nf_reject_ipv6", "ipt_REJECT", "ip6t_REJECT",
}

// moduleName is a module's name as the kernel and modprobe compare them: '-' and '_' are one.
func moduleName(s string) string {
	s = path.Base(s)
	s = strings.TrimSuffix(s, ".ko")

	return strings.ReplaceAll(s, "-", "_")
}

// moduleDeps is modules.dep: each module's path (relative to /lib/modules/<ver>) and its
// dependencies' paths, keyed by module name.
type moduleDeps map[string]moduleEntry

type moduleEntry struct {
	path string
	deps []string
}

func parseModulesDep(r io.Reader) (moduleDeps, error) {
	out := moduleDeps{}

	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1<<20)

	for sc.Scan() {
		mod, deps, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}

		out[moduleName(mod)] = moduleEntry{path: mod, deps: strings.Fields(deps)}
	}

	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.dep: %w", err)
	}

	return out, nil
}

// loadOrder returns the paths of wanted and their dependencies, each after everything it
// depends on, each once. A module missing from modules.dep is an error: it may be built in,
// which the caller checks in modules.builtin.
func (d moduleDeps) loadOrder(wanted []string, builtin map[string]bool) ([]string, error) {
	var (
		order []string
		seen  = map[string]bool{}
		visit func(name string, chain []string) error
	)

	visit = func(name string, chain []string) error {
		if seen[name] || builtin[name] {
			return nil
		}

		e, ok := d[name]
		if !ok {
			return fmt.Errorf("module %s (wanted by %s) is in neither modules.dep nor modules.builtin",
				name, strings.Join(append(chain, name), " → "))
		}

		seen[name] = true

		for _, dep := range e.deps {
			if err := visit(moduleName(dep), append(chain, name)); err != nil {
				return err
			}
		}

		order = append(order, e.path)

		return nil
	}

	for _, w := range wanted {
		if err := visit(moduleName(w), nil); err != nil {
			return nil, err
		}
	}

	return order, nil
}

// parseBuiltin reads modules.builtin into a set of module names.
func parseBuiltin(r io.Reader) (map[string]bool, error) {
	out := map[string]bool{}

	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			out[moduleName(line)] = true
		}
	}

	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("read modules.builtin: %w", err)
	}

	return out, nil
}
