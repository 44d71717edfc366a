package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/cozylab/cozylab/internal/release"
)

// ReleasePrepare stamps VERSION (v and semver, newer than release.json's) into release.json, the
// installer and platform chart versions and the operator's version. Commit the result: that
// commit is the release, and the upgrade lane's default starting point from then on.
func ReleasePrepare(_ context.Context, version string) error {
	root, err := os.Getwd()
	if err != nil {
		return err
	}
	stamped, err := release.Prepare(root, version)
	if err != nil {
		return err
	}
	for _, s := range stamped {
		fmt.Printf("  %-40s %s\n", s.Path, s.Line)
	}
	fmt.Printf("Stamped %s. Commit it (git commit -am 'release %s'): that commit is the release, and `go run mage.go e2e:upgrade` starts from it.\n", version, version)
	return nil
}
