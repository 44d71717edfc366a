package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/lab/provider"
)

// A variant the tree's platform chart does not offer is refused before anything starts (no lab
// is given: reaching it would panic), naming the tree's variants.
func TestUnknownVariantListsTheVariants(t *testing.T) {
	_, err := Run(context.Background(), Options{RepoRoot: "..", Variant: "isp-ful", ReportDir: t.TempDir()})
	require.EqualError(t, err, `unknown platform variant "isp-ful": ../packages offers default, isp-full-generic, isp-full, isp-hosted (E2E_VARIANT)`)
}

// pacedLab is a lab that says how slow it is; nothing else of it is used.
type pacedLab struct {
	provider.Platform
	slowdown int
}

func (l pacedLab) Slowdown() int { return l.slowdown }

// A lab slower than native (a QEMU lab under TCG) gets its waits stretched by its pace; one
// that says nothing, or less than 1, keeps them.
func TestBoundFollowsTheLabsPace(t *testing.T) {
	assert.Equal(t, 12*time.Minute, (&env{o: Options{Lab: pacedLab{slowdown: 4}}}).bound(3*time.Minute))
	assert.Equal(t, 3*time.Minute, (&env{o: Options{Lab: pacedLab{slowdown: 0}}}).bound(3*time.Minute))
	assert.Equal(t, 3*time.Minute, (&env{o: Options{}}).bound(3*time.Minute))
}

// variantLab is a paced lab that names its operator variant.
type variantLab struct{ pacedLab }

func (variantLab) OperatorVariant() string { return "talos" }

// On a lab slower than native the operator's leader-election timings are stretched by its
// pace (a leader that cannot renew in time exits); a native lab keeps the operator's defaults.
func TestInstallerValuesStretchTheLeasesOnASlowLab(t *testing.T) {
	op := func(slowdown int) map[string]any {
		return installerValues(&env{o: Options{Lab: variantLab{pacedLab{slowdown: slowdown}}}})["cozystackOperator"].(map[string]any)
	}
	slow := op(4)
	assert.Equal(t, "1m0s", slow["leaderElectLeaseDuration"])
	assert.Equal(t, "40s", slow["leaderElectRenewDeadline"])
	assert.Equal(t, "8s", slow["leaderElectRetryPeriod"])
	native := op(1)
	assert.NotContains(t, native, "leaderElectLeaseDuration")
	assert.NotContains(t, native, "leaderElectRenewDeadline")
	assert.NotContains(t, native, "leaderElectRetryPeriod")
	assert.Equal(t, "talos", native["variant"])
}
