package state

// Request is what a lab was asked to be, decided once at the edge (a magefile target or a
// command: flags and environment read there, KVM probed at most once) and saved in the state
// before the daemon starts; the daemon and every action read it from there. Nothing under lab/
// reads the environment.
type Request struct {
	// Name is the lab's name (ValidateName).
	Name string `json:"name"`
	// Provider is "local" or "qemu"; ProviderReason says why it was chosen, for the first
	// output line.
	Provider       string `json:"provider"`
	ProviderReason string `json:"providerReason,omitempty"`
	// RepoRoot is the absolute path of the checkout the daemon (and the twin agent) are built from.
	RepoRoot string `json:"repoRoot"`
	// QEMU is the QEMU provider's part; nil on other providers.
	QEMU *QEMURequest `json:"qemu,omitempty"`
	// IgnoreSimulatedWebhooks (LAB_SIMULATED_WEBHOOKS=ignore, local labs) sets failurePolicy
	// Ignore on admission webhooks whose Service has only endpoints on simulated nodes.
	IgnoreSimulatedWebhooks bool `json:"ignoreSimulatedWebhooks,omitempty"`
	// LocalNodes is the local lab's node mode: LocalNodesReal (the default, also when empty) runs
	// a real node — containerd and a kubelet — beside the simulated ones; LocalNodesKwok
	// (LAB_LOCAL_NODES=kwok) only the simulated ones, for a host that cannot run a real node.
	LocalNodes string `json:"localNodes,omitempty"`
}

// Local node modes (Request.LocalNodes).
const (
	LocalNodesReal = "real"
	LocalNodesKwok = "kwok"
)

// RealNode reports whether a local lab runs a real node.
func (r Request) RealNode() bool { return r.LocalNodes != LocalNodesKwok }

// QEMURequest is the QEMU lab's part of a Request.
type QEMURequest struct {
	// NodeImage is "twin" (the Talos twin this project builds) or "talos" (the real nocloud image).
	NodeImage       string `json:"nodeImage"`
	NodeImageReason string `json:"nodeImageReason,omitempty"`
	// KVM says whether guests run under KVM (else TCG), as the one probe found; KVMReason is
	// the probe's word.
	KVM       bool   `json:"kvm"`
	KVMReason string `json:"kvmReason,omitempty"`
	// MemoryMiB and CPUs size each node.
	MemoryMiB int `json:"memoryMiB"`
	CPUs      int `json:"cpus"`
	// Talos chooses the real Talos image (NodeImage "talos" only).
	Talos TalosImage `json:"talos,omitzero"`
}

// TalosImage chooses a Talos nocloud image: version, Image Factory schematic and an optional
// SHA-256 pin of the decompressed image; empty fields take the defaults of lab/qemu/talosimage.
type TalosImage struct {
	Version   string `json:"version,omitempty"`
	Schematic string `json:"schematic,omitempty"`
	SHA256    string `json:"sha256,omitempty"`
}
