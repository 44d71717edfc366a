package twinimage

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// FindKernel returns the newest kernel version with a <bootDir>/vmlinuz-<ver> and a modules
// directory (<modulesDir>/<ver>/modules.dep), so the guest's modules always match its kernel;
// its error names the apt package to install. The kernel is <bootDir>/vmlinuz-<ver>.
func FindKernel(bootDir, modulesDir string) (string, error) {
	matches, err := filepath.Glob(filepath.Join(bootDir, "vmlinuz-*"))
	if err != nil {
		return "", fmt.Errorf("list kernels in %s: %w", bootDir, err)
	}

	var versions []string

	for _, m := range matches {
		ver := strings.TrimPrefix(filepath.Base(m), "vmlinuz-")
		if _, err := os.Stat(filepath.Join(modulesDir, ver, "modules.dep")); err == nil {
			versions = append(versions, ver)
		}
	}

	if len(versions) == 0 {
		return "", errors.New("find a guest kernel: no " + filepath.Join(bootDir, "vmlinuz-*") +
			" with its modules: run `apt-get install linux-image-amd64`")
	}

	slices.SortFunc(versions, compareVersions)

	return versions[len(versions)-1], nil
}

// compareVersions orders kernel versions such as 6.1.0-56-amd64 by their numeric fields.
func compareVersions(a, b string) int {
	fa, fb := versionFields(a), versionFields(b)

	for i := range min(len(fa), len(fb)) {
		na, errA := strconv.Atoi(fa[i])
		nb, errB := strconv.Atoi(fb[i])

		var c int
		if errA == nil && errB == nil {
			c = cmp.Compare(na, nb)
		} else {
			c = strings.Compare(fa[i], fb[i])
		}

		if c != 0 {
			return c
		}
	}

	return cmp.Compare(len(fa), len(fb))
}

func versionFields(v string) []string {
	return strings.FieldsFunc(v, func(r rune) bool { return r == '.' || r == '-' })
}
