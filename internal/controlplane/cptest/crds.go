package cptest

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/cozylab/cozylab/internal/controlplane"
	"github.com/cozylab/cozylab/internal/progress"
)

// InstallCRDFiles creates the CustomResourceDefinitions in the files matching the globs (a
// test in lab/ reads the operator's generated CRDs from disk, e.g.
// "../../operator/flux/crds/*.yaml": lab/ may not import them), and waits until each is
// Established and served by discovery.
func InstallCRDFiles(t testing.TB, cfg *rest.Config, globs ...string) {
	t.Helper()
	for _, g := range globs {
		dir, pattern := filepath.Split(g)
		if err := controlplane.InstallCRDs(context.Background(), cfg, os.DirFS(filepath.Clean(dir)), []string{pattern},
			progress.Discard.Begin(""), 2*time.Minute); err != nil { // a bound for a loaded host
			t.Fatalf("install CRDs %s (run from the package directory?): %v", g, err)
		}
	}
}
