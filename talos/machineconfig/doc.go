// Package machineconfig turns a lab description into Talos machine configs.
//
// It owns the Talos side of a cluster's identity: one secrets bundle per cluster, persisted so a
// re-run regenerates byte-identical configs instead of minting new CAs, and one control-plane
// config per node with the cluster endpoint on a shared layer-2 VIP. Callers hand in their own
// patches as YAML bytes, so this package needs nothing from the rest of the repository.
//
// Talos 1.13 configs are multi-document (v1alpha1 plus HostnameConfig and friends), and
// machinery rejects JSON6902 patches on them; only strategic-merge patches are accepted here,
// and a JSON6902 patch is refused up front with a message saying how to rewrite it.
package machineconfig
