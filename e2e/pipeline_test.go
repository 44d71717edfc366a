package e2e

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

// A variant the tree's platform chart does not offer is refused before anything starts (no lab
// is given: reaching it would panic), naming the tree's variants.
func TestUnknownVariantListsTheVariants(t *testing.T) {
	_, err := Run(context.Background(), Options{RepoRoot: "..", Variant: "isp-ful", ReportDir: t.TempDir()})
	require.EqualError(t, err, `unknown platform variant "isp-ful": ../packages offers default, isp-full-generic, isp-full, isp-hosted (E2E_VARIANT)`)
}
