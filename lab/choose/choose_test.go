package choose

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/lab/qemu"
	"github.com/cozylab/cozylab/lab/state"
)

// counted is a KVM probe that answers ok/why and counts its calls.
func counted(ok bool, why string, calls *int) func(context.Context) (bool, string) {
	return func(context.Context) (bool, string) {
		*calls++
		return ok, why
	}
}

func TestDecide(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		name              string
		s                 Settings
		kvm               bool
		provider, image   string
		reason, imageWhy  string
		probes, memoryMiB int
	}{
		{name: "auto without KVM", s: Settings{}, kvm: false, provider: "local",
			reason: "local provider (no KVM guest can run here: why)", probes: 1},
		{name: "auto with KVM boots Talos", s: Settings{}, kvm: true, provider: "qemu", image: qemu.NodeImageTalos,
			reason: "qemu provider: why", imageWhy: "node image talos (KVM works; LAB_NODE_IMAGE=twin for the Talos twin)", probes: 1, memoryMiB: qemu.TalosMemoryMiB},
		{name: "explicit qemu without KVM boots twins", s: Settings{Provider: "qemu"}, provider: "qemu", image: qemu.NodeImageTwin,
			reason: "LAB_PROVIDER=qemu", imageWhy: "node image twin (no Talos image can run without KVM here; LAB_NODE_IMAGE=talos to try anyway)", probes: 1, memoryMiB: qemu.NodeMemoryMiB},
		{name: "LAB_NODE_IMAGE wins and sizes are set", s: Settings{Provider: "QEMU", NodeImage: "twin", MemoryMiB: 1024, CPUs: 1}, kvm: true, provider: "qemu",
			image: qemu.NodeImageTwin, reason: "LAB_PROVIDER=qemu", imageWhy: "node image twin (LAB_NODE_IMAGE)", probes: 1, memoryMiB: 1024},
		{name: "explicit local never probes", s: Settings{Provider: "local"}, provider: "local", reason: "LAB_PROVIDER=local"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			tt.s.Root, tt.s.ProbeKVM = t.TempDir(), counted(tt.kvm, "why", &calls)
			lab, err := Decide(ctx, tt.s)
			require.NoError(t, err)
			req := lab.Request
			assert.Equal(t, "dev", req.Name)
			assert.Equal(t, tt.provider, req.Provider)
			assert.Equal(t, tt.provider, lab.Provider().Name())
			assert.Equal(t, tt.reason, req.ProviderReason)
			assert.Equal(t, tt.probes, calls, "KVM is probed at most once, and only when the choice needs it")
			if tt.image == "" {
				assert.Nil(t, req.QEMU)
				return
			}
			require.NotNil(t, req.QEMU)
			assert.Equal(t, tt.image, req.QEMU.NodeImage)
			assert.Equal(t, tt.imageWhy, req.QEMU.NodeImageReason)
			assert.Equal(t, tt.kvm, req.QEMU.KVM)
			assert.Equal(t, tt.memoryMiB, req.QEMU.MemoryMiB)
		})
	}
}

func TestAnExistingLabKeepsItsRequestWithoutProbing(t *testing.T) {
	root := t.TempDir()
	saved := state.Request{Name: "dev", Provider: qemu.ProviderName, QEMU: &state.QEMURequest{NodeImage: qemu.NodeImageTwin, MemoryMiB: 2048, CPUs: 2}}
	_, err := state.Create(root, saved)
	require.NoError(t, err)
	calls := 0
	lab, err := Decide(context.Background(), Settings{Root: root, ProbeKVM: counted(true, "KVM", &calls)})
	require.NoError(t, err)
	assert.Equal(t, qemu.ProviderName, lab.Request.Provider, "lab:down must reach what lab:up made")
	assert.Equal(t, saved.QEMU, lab.Request.QEMU)
	assert.Contains(t, lab.Request.ProviderReason, "lab dev already exists on the qemu provider")
	assert.Zero(t, calls)

	lab, err = Existing(Settings{Root: root})
	require.NoError(t, err)
	assert.Equal(t, qemu.ProviderName, lab.Provider().Name())

	_, err = Decide(context.Background(), Settings{Root: root, Provider: "local"})
	require.ErrorContains(t, err, "lab dev exists with provider qemu, not local: run `LAB_NAME=dev go run mage.go lab:down` first")
	_, err = Decide(context.Background(), Settings{Root: root, NodeImage: "talos"})
	require.ErrorContains(t, err, "QEMU lab dev is up with the twin image, not talos")
}

func TestSimulatedWebhooksTravelInTheRequest(t *testing.T) {
	lab, err := Decide(context.Background(), Settings{Provider: "local", SimulatedWebhooks: "ignore", Root: t.TempDir()})
	require.NoError(t, err)
	assert.True(t, lab.Request.IgnoreSimulatedWebhooks)
	lab, err = Decide(context.Background(), Settings{Provider: "local", Root: t.TempDir()})
	require.NoError(t, err)
	assert.False(t, lab.Request.IgnoreSimulatedWebhooks, "webhooks stay as their charts say unless asked")
}

func TestLocalNodesTravelInTheRequest(t *testing.T) {
	lab, err := Decide(context.Background(), Settings{Provider: "local", Root: t.TempDir()})
	require.NoError(t, err)
	assert.Equal(t, "real", lab.Request.LocalNodes, "a local lab runs a real node unless asked not to")
	assert.True(t, lab.Request.RealNode())
	lab, err = Decide(context.Background(), Settings{Provider: "local", LocalNodes: "kwok", Root: t.TempDir()})
	require.NoError(t, err)
	assert.False(t, lab.Request.RealNode())
	_, err = Decide(context.Background(), Settings{Provider: "local", LocalNodes: "fake", Root: t.TempDir()})
	require.ErrorContains(t, err, `LAB_LOCAL_NODES="fake": want real (the default) or kwok`)
	_, err = Decide(context.Background(), Settings{Provider: "qemu", LocalNodes: "kwok", Root: t.TempDir(),
		ProbeKVM: func(context.Context) (bool, string) { return false, "" }})
	require.ErrorContains(t, err, "LAB_LOCAL_NODES=kwok is for local labs")
}

func TestExistingOfNoLabNeverProbes(t *testing.T) {
	lab, err := Existing(Settings{Root: t.TempDir(), ProbeKVM: func(context.Context) (bool, string) { panic("probed") }})
	require.NoError(t, err)
	assert.Equal(t, "local", lab.Request.Provider)
}

func TestDecideRefusesBadInput(t *testing.T) {
	_, err := Decide(context.Background(), Settings{Provider: "kind", Root: t.TempDir()})
	require.EqualError(t, err, `LAB_PROVIDER="kind": want auto, local or qemu`)
	_, err = Existing(Settings{Provider: "kind", Root: t.TempDir()})
	require.EqualError(t, err, `LAB_PROVIDER="kind": want auto, local or qemu`, "lab:down of a bad provider says so too")
	_, err = Decide(context.Background(), Settings{Name: "Bad_Name", Root: t.TempDir()})
	require.ErrorContains(t, err, `LAB_NAME: lab name "Bad_Name"`)
	_, err = Decide(context.Background(), Settings{Provider: "local", SimulatedWebhooks: "skip", Root: t.TempDir()})
	require.ErrorContains(t, err, `LAB_SIMULATED_WEBHOOKS="skip": want fail (the default) or ignore`)
	_, err = Decide(context.Background(), Settings{Provider: "qemu", SimulatedWebhooks: "ignore", Root: t.TempDir(),
		ProbeKVM: func(context.Context) (bool, string) { return false, "" }})
	require.ErrorContains(t, err, "LAB_SIMULATED_WEBHOOKS=ignore is for local labs")
	_, err = Decide(context.Background(), Settings{Provider: "qemu", NodeImage: "ubuntu", Root: t.TempDir(),
		ProbeKVM: func(context.Context) (bool, string) { return false, "" }})
	require.ErrorContains(t, err, "LAB_NODE_IMAGE=ubuntu is not a node image")
}
