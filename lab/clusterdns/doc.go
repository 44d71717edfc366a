// Package clusterdns is the cluster DNS of a lab whose nodes really run pods: CoreDNS as kubeadm
// deploys it, applied by the lab once its nodes are Ready. Both labs with such nodes use it —
// the local lab (pinned to its real node; the kwok nodes run nothing) and the QEMU lab's twins
// (no pin: every node runs pods) — because neither has what deploys CoreDNS on a real cluster
// (kubeadm's addon phase, Talos's bootstrap manifests).
//
// The lab has no way out, so the Corefile forwards nothing: names outside the cluster fail
// fast instead of timing out against an unreachable upstream.
package clusterdns
