// Package image builds the Talos twin's guest image: the host's Debian kernel and an initramfs
// whose /init is the twin agent (talos/twin/cmd/cozylab-twin, built static), with etcd and
// kube-apiserver from the binaries cache and the kernel modules a virtio guest needs.
//
// The twin lets the QEMU lab run on a machine with no Talos image and no KVM: the guest boots in
// seconds under TCG and speaks the machinery API, backed by real etcd and kube-apiserver.
// An initramfs is cached by the digest of everything in it, so a second Build costs the agent's
// relink and the hashing, not a rewrite.
package twinimage
