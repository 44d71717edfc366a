package e2e

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestUnknownVariantListsTheVariants(t *testing.T) {
	_, err := Run(context.Background(), Options{Variant: "isp-ful", ReportDir: t.TempDir()})
	require.EqualError(t, err, `unknown platform variant "isp-ful": choose one of default, isp-full, isp-hosted, isp-full-generic (E2E_VARIANT)`)
}
