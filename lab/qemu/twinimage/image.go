package twinimage

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/cozylab/cozylab/internal/progress"
)

// AgentPackage is the twin agent's package, built from the repository root.
const AgentPackage = "./talos/twin/cmd/cozylab-twin"

// Paths of the binaries inside the guest; the agent expects them there.
const (
	GuestInit      = "/init"
	GuestEtcd      = "/usr/bin/etcd"
	GuestAPIServer = "/usr/bin/kube-apiserver"
	GuestModules   = "/etc/modules.order"
)

// Options describe one twin image. EtcdPath and APIServerPath are required (from the binaries
// cache); everything else has a default for this host.
type Options struct {
	// EtcdPath and APIServerPath are static etcd and kube-apiserver binaries.
	EtcdPath, APIServerPath string
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

	if o.CacheDir == "" {
		dir, err := os.UserCacheDir()
		if err != nil {
			return o, fmt.Errorf("find the user cache dir (set XDG_CACHE_HOME or HOME): %w", err)
		}

		o.CacheDir = filepath.Join(dir, "cozylab", "images", "twin")
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

	return o, nil
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

	initrdPath, err = o.cachedInitramfs(entries)
	if err != nil {
		return "", "", err
	}

	return kernelPath, initrdPath, nil
}

// entries lists the initramfs: the agent as /init, the two binaries, the modules and their order.
func (o Options) entries(agent string) ([]entry, error) {
	modDir := filepath.Join(o.ModulesDir, o.KernelVersion)

	order, err := o.moduleOrder(modDir)
	if err != nil {
		return nil, err
	}

	entries := []entry{
		{Name: GuestInit, Mode: 0o755, Source: agent},
		{Name: GuestEtcd, Mode: 0o755, Source: o.EtcdPath},
		{Name: GuestAPIServer, Mode: 0o755, Source: o.APIServerPath},
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

// digest names an initramfs by what goes into it: each entry's name, mode and content.
func digest(entries []entry) (string, error) {
	h := sha256.New()

	for _, e := range entries {
		fmt.Fprintf(h, "%s %o %d\n", e.Name, e.Mode, len(e.Data))
		h.Write(e.Data)

		if e.Source != "" {
			if err := hashFile(h, e.Source); err != nil {
				return "", err
			}
		}
	}

	return hex.EncodeToString(h.Sum(nil))[:16], nil
}

func hashFile(w io.Writer, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()

	if _, err := io.Copy(w, f); err != nil {
		return fmt.Errorf("read %s: %w", path, err)
	}

	return nil
}
