package twinimage

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/cozylab/cozylab/internal/progress"
)

// AgentPackage is the twin agent's package, built from the repository root.
const AgentPackage = "./talos/twin/cmd/cozylab-twin"

// Paths of the binaries inside the guest; the agent expects them there. Debian's programs keep
// their packages' paths: /usr/bin/containerd, /usr/bin/containerd-shim-runc-v2, /usr/sbin/runc,
// /usr/lib/cni/<plugin>, /usr/sbin/iptables (→ iptables-nft), /usr/sbin/nft, /usr/sbin/conntrack.
const (
	GuestInit              = "/init"
	GuestEtcd              = "/usr/bin/etcd"
	GuestAPIServer         = "/usr/bin/kube-apiserver"
	GuestControllerManager = "/usr/bin/kube-controller-manager"
	GuestScheduler         = "/usr/bin/kube-scheduler"
	GuestKubelet           = "/usr/bin/kubelet"
	GuestKubeProxy         = "/usr/bin/kube-proxy"
	GuestModules           = "/etc/modules.order"
)

// Options describe one twin image. EtcdPath and APIServerPath are required (from the binaries
// cache); everything else has a default for this host.
type Options struct {
	// EtcdPath and APIServerPath are static etcd and kube-apiserver binaries.
	EtcdPath, APIServerPath string
	// ControllerManagerPath, SchedulerPath, KubeletPath and KubeProxyPath are the node's static
	// binaries (from the binaries cache), for a guest that runs a whole control-plane node; all
	// four or none.
	ControllerManagerPath, SchedulerPath, KubeletPath, KubeProxyPath string
	// Packages are Debian packages whose files go into the image with everything they depend
	// on (realnode.Packages: containerd, runc, the CNI plugins, iptables, nftables, conntrack),
	// less what a guest never reads (keepPackageFile). None when empty.
	Packages []string
	// Links are symbolic links made over the packages (guest path → target), what their
	// maintainer scripts would have made: realnode.IptablesNFTLinks.
	Links map[string]string
	// Debs keeps the fetched .debs; <user cache dir>/cozylab/debs (the sandbox image's) when empty.
	Debs string
	// KernelVersion picks /boot/vmlinuz-<version>; the newest with modules when empty.
	KernelVersion string
	// Modules are loaded in the guest, with their dependencies; DefaultModules when nil.
	Modules []string
	// AgentPath is a prebuilt agent; when empty the agent is built from RepoRoot.
	AgentPath string
	// RepoRoot is the module root the agent is built in; this source tree when empty.
	RepoRoot string
	// CacheDir holds built images; <user cache dir>/cozylab/images/twin when empty.
	CacheDir string
	// BootDir and ModulesDir default to /boot and /lib/modules.
	BootDir, ModulesDir string
	// Reporter hears about the steps; progress.Discard when nil.
	Reporter progress.Reporter
}

func (o Options) withDefaults() (Options, error) {
	o.BootDir = cmpOr(o.BootDir, "/boot")
	o.ModulesDir = cmpOr(o.ModulesDir, "/lib/modules")

	if o.Modules == nil {
		o.Modules = DefaultModules
	}

	if o.Reporter == nil {
		o.Reporter = progress.Discard
	}

	if o.CacheDir == "" || o.Debs == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return o, fmt.Errorf("find the user cache dir (set XDG_CACHE_HOME or HOME): %w", err)
		}

		o.CacheDir = cmpOr(o.CacheDir, filepath.Join(dir, "cozylab", "images", "twin"))
		o.Debs = cmpOr(o.Debs, filepath.Join(dir, "cozylab", "debs"))
	}

	if o.RepoRoot == "" {
		_, file, _, ok := runtime.Caller(0)
		if !ok {
			return o, errors.New("locate the repository root: no caller information; set Options.RepoRoot")
		}

		o.RepoRoot = filepath.Join(filepath.Dir(file), "..", "..", "..")
	}

	if o.EtcdPath == "" || o.APIServerPath == "" {
		return o, errors.New("build twin image: the etcd and kube-apiserver paths are required (from the binaries cache)")
	}

	set := 0

	for _, b := range o.nodeBinaries() {
		if b.Source != "" {
			set++
		}
	}

	if set != 0 && set != len(o.nodeBinaries()) {
		return o, errors.New("build twin image: set all four of ControllerManagerPath, SchedulerPath, KubeletPath and KubeProxyPath (from the binaries cache), or none")
	}

	for p, target := range o.Links {
		if !strings.HasPrefix(p, "/") || target == "" {
			return o, fmt.Errorf("build twin image: link %q → %q: a link needs an absolute path and a target", p, target)
		}
	}

	return o, nil
}

// nodeBinaries are the node's binaries as entries; their Source is empty when not set.
func (o Options) nodeBinaries() []entry {
	return []entry{
		{Name: GuestControllerManager, Mode: 0o755, Source: o.ControllerManagerPath},
		{Name: GuestScheduler, Mode: 0o755, Source: o.SchedulerPath},
		{Name: GuestKubelet, Mode: 0o755, Source: o.KubeletPath},
		{Name: GuestKubeProxy, Mode: 0o755, Source: o.KubeProxyPath},
	}
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}

	return s
}

// Build returns the kernel and an initramfs for a twin guest, building the initramfs unless
// one with the same inputs is cached. The kernel is the host's, used in place.
func Build(ctx context.Context, opts Options) (kernelPath, initrdPath string, err error) {
	o, err := opts.withDefaults()
	if err != nil {
		return "", "", err
	}

	if o.KernelVersion == "" {
		if o.KernelVersion, err = FindKernel(o.BootDir, o.ModulesDir); err != nil {
			return "", "", err
		}
	}

	kernelPath = filepath.Join(o.BootDir, "vmlinuz-"+o.KernelVersion)
	if _, err := os.Stat(kernelPath); err != nil {
		return "", "", fmt.Errorf("find kernel %s (run `apt-get install linux-image-amd64`): %w", kernelPath, err)
	}

	agent := o.AgentPath
	if agent == "" {
		if agent, err = buildAgent(ctx, o); err != nil {
			return "", "", err
		}
	}

	entries, err := o.entries(agent)
	if err != nil {
		return "", "", err
	}

	debs, err := o.fetchDebs(ctx)
	if err != nil {
		return "", "", err
	}

	initrdPath, err = o.cachedInitramfs(layout{entries: entries, debs: debs})
	if err != nil {
		return "", "", err
	}

	return kernelPath, initrdPath, nil
}

// layout is everything one initramfs holds, in archive order: the entries, then the files of
// the packages. The first entry of a path wins, so the entries replace a package's file.
type layout struct {
	entries []entry
	debs    []debFile
}

// entries lists the initramfs but for the packages: the agent as /init, the base files, the
// binaries, the links, the modules and their order.
func (o Options) entries(agent string) ([]entry, error) {
	modDir := filepath.Join(o.ModulesDir, o.KernelVersion)

	order, err := o.moduleOrder(modDir)
	if err != nil {
		return nil, err
	}

	entries := []entry{{Name: GuestInit, Mode: 0o755, Source: agent}}
	entries = append(entries, baseFiles()...)
	entries = append(entries,
		entry{Name: GuestEtcd, Mode: 0o755, Source: o.EtcdPath},
		entry{Name: GuestAPIServer, Mode: 0o755, Source: o.APIServerPath},
	)

	for _, b := range o.nodeBinaries() {
		if b.Source != "" {
			entries = append(entries, b)
		}
	}

	links := slices.Sorted(maps.Keys(o.Links))
	for _, p := range links {
		entries = append(entries, entry{Name: p, Mode: os.ModeSymlink | 0o777, Link: o.Links[p]})
	}

	guestPaths := make([]string, 0, len(order))

	for _, rel := range order {
		guest := "/lib/modules/" + o.KernelVersion + "/" + rel
		guestPaths = append(guestPaths, guest)
		entries = append(entries, entry{Name: guest, Mode: 0o644, Source: filepath.Join(modDir, rel)})
	}

	entries = append(entries, entry{Name: GuestModules, Mode: 0o644, Data: []byte(strings.Join(guestPaths, "\n") + "\n")})

	return entries, nil
}

func (o Options) moduleOrder(modDir string) ([]string, error) {
	depFile, err := os.Open(filepath.Join(modDir, "modules.dep"))
	if err != nil {
		return nil, fmt.Errorf("read the modules of kernel %s (run `apt-get install linux-image-amd64`): %w", o.KernelVersion, err)
	}
	defer depFile.Close()

	deps, err := parseModulesDep(depFile)
	if err != nil {
		return nil, err
	}

	builtin := map[string]bool{}

	if f, err := os.Open(filepath.Join(modDir, "modules.builtin")); err == nil {
		builtin, err = parseBuiltin(f)
		f.Close()

		if err != nil {
			return nil, err
		}
	}

	order, err := deps.loadOrder(o.Modules, builtin)
	if err != nil {
		return nil, fmt.Errorf("resolve guest modules for kernel %s: %w", o.KernelVersion, err)
	}

	for _, rel := range order {
		if !strings.HasSuffix(rel, ".ko") {
			return nil, fmt.Errorf("module %s is compressed; the twin loads only uncompressed .ko files", rel)
		}
	}

	return order, nil
}
