// Package twinimage builds the Talos twin's guest image: the host's Debian kernel and an
// initramfs whose /init is the twin agent (talos/twin/cmd/cozylab-twin, built static), with
// etcd, kube-apiserver, kube-controller-manager, kube-scheduler, the kubelet and kube-proxy from
// the binaries cache, Debian's containerd, runc, CNI plugins and netfilter tools with the
// libraries they load, and the kernel modules a virtio guest running a Kubernetes node needs.
//
// The twin lets the QEMU lab run on a machine with no Talos image and no KVM: the guest boots in
// seconds under TCG and speaks the machinery API, backed by a real control-plane node. The
// initramfs is an uncompressed newc archive (several hundred MB), which QEMU loads and the
// kernel unpacks without a decompressor — under TCG, gunzip would cost more than the boot.
// It is cached by the digest of everything in it (the packages counted by apt's SHA-256 of
// their .debs), so a second Build costs the agent's relink, apt's answer and the hashing, not
// a rewrite.
package twinimage
