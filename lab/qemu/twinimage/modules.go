package twinimage

import (
	"bufio"
	"fmt"
	"io"
	"path"
	"strings"
)

// DefaultModules are the modules a twin guest loads (their dependencies come along): virtio
// PCI, network, disk and entropy; iso9660 for the NoCloud seed; SATA CD-ROM support, so a
// seed attached with -cdrom on q35's AHCI is found as well as one on virtio-blk; and the ACPI
// power button with evdev, so a QMP system_powerdown shuts the twin down cleanly.
var DefaultModules = []string{
	"virtio_pci", "virtio_net", "virtio_blk", "virtio-rng", "isofs", "ahci", "sr_mod", "button", "evdev",
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
