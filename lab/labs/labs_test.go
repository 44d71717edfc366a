package labs

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/lab/qemu"
	"github.com/cozylab/cozylab/lab/state"
)

func probe(ok bool, why string) func(context.Context) (bool, string) {
	return func(context.Context) (bool, string) { return ok, why }
}

func TestSelect(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name            string
		o               Options
		provider, image string
		reason          string
	}{
		{"auto without KVM", Options{ProbeKVM: probe(false, "QEMU aborted: MSR 0x10a")}, "local", "",
			"local provider (no KVM guest can run here: QEMU aborted: MSR 0x10a)"},
		{"auto with KVM boots Talos", Options{ProbeKVM: probe(true, "a guest reached userspace under KVM in 1.2s")}, "qemu", qemu.NodeImageTalos,
			"qemu provider: a guest reached userspace under KVM in 1.2s; node image talos (KVM works; LAB_NODE_IMAGE=twin for the Talos twin)"},
		{"explicit qemu without KVM boots twins", Options{Provider: "qemu", ProbeKVM: probe(false, "no /dev/kvm")}, "qemu", qemu.NodeImageTwin,
			"LAB_PROVIDER=qemu; node image twin (no Talos image can run without KVM here; LAB_NODE_IMAGE=talos to try anyway)"},
		{"LAB_NODE_IMAGE wins", Options{Provider: "QEMU", NodeImage: "twin", ProbeKVM: probe(true, "")}, "qemu", qemu.NodeImageTwin,
			"LAB_PROVIDER=qemu; node image twin (LAB_NODE_IMAGE)"},
		{"explicit local", Options{Provider: "local"}, "local", "", "LAB_PROVIDER=local"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tt.o.Root = t.TempDir()
			c, err := Select(ctx, tt.o)
			require.NoError(t, err)
			assert.Equal(t, tt.provider, c.Provider.Name())
			assert.Equal(t, tt.reason, c.Reason)
			if q, ok := c.Provider.(*qemu.Provider); ok {
				assert.Equal(t, tt.image, q.NodeImage)
			}
		})
	}
}

func TestSelectKeepsAnExistingLabsProvider(t *testing.T) {
	root := t.TempDir()
	s, err := state.Open(root, "dev", qemu.ProviderName)
	require.NoError(t, err)
	require.NoError(t, s.MarkDone("network"))
	c, err := Select(context.Background(), Options{Root: root, ProbeKVM: probe(false, "no KVM")})
	require.NoError(t, err)
	assert.Equal(t, qemu.ProviderName, c.Provider.Name(), "lab:down must reach what lab:up made")
	assert.Contains(t, c.Reason, "lab dev already exists on the qemu provider")
}

func TestSelectRefusesBadInput(t *testing.T) {
	_, err := Select(context.Background(), Options{Provider: "kind", Root: t.TempDir()})
	require.EqualError(t, err, `LAB_PROVIDER="kind": want auto, local or qemu`)
	_, err = Select(context.Background(), Options{Name: "Bad_Name", Root: t.TempDir()})
	require.ErrorContains(t, err, `LAB_NAME: lab name "Bad_Name"`)
}
