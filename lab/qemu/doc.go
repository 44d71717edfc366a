// Package qemu is the QEMU lab provider: three control-plane nodes, each a qemu-system-x86_64 VM
// on a bridge of the lab's own, bootstrapped into a Kubernetes cluster through the Talos
// machinery API.
//
// Like the local provider, the lab lives in a detaching daemon (lab/daemon,
// lab/cmd/cozylab-lab): the VMs are QEMU children of the daemon, so they die with it, and the
// daemon keeps them running after `lab:up` returns. Up (the parent side) checks the
// prerequisites, records what was asked for, builds the daemon and starts it; RunLab (the
// daemon side) is one ordered list of steps: pick the accelerator, set up the host network,
// start the artifact registry (lab/registry, on 127.0.0.1 for the harness and on the bridge's
// gateway for the nodes, which get it as a plain-HTTP registry and as the mirror of every
// upstream registry the lab's images come from), generate the Talos configs, provide the node
// image, write a NoCloud seed per node, boot the VMs in parallel, then drive the Talos flows
// (wait for each node's API, bootstrap once, wait for three etcd members, fetch the
// kubeconfig) and check that a Kubernetes client reaches the API on the VIP across the bridge.
// On twins the lab then does what a Talos node's bootstrap manifests would: it pushes its own
// images (the pod sandbox, CoreDNS, Flux; lab/images), waits for the three kubelets to
// register their nodes Ready and deploys CoreDNS (lab/clusterdns).
//
// Every path is derived from the lab directory and every host object from the lab name
// (lab/qemu/network), and the network plan is recorded in the state before anything is
// created, so Down works from the state alone — after a failed or killed Up too.
//
// Nodes run the Talos twin by default (LAB_NODE_IMAGE=twin; lab/qemu/twinimage, talos/twin): the
// host's kernel with an initramfs whose init speaks the machinery API in front of real etcd,
// kube-apiserver, kube-controller-manager and kube-scheduler, and runs a kubelet and kube-proxy
// on containerd configured from the machine config, so the e2e pipeline runs the platform on
// it as on real Talos. With LAB_NODE_IMAGE=talos the nodes boot the real Talos nocloud image
// instead (lab/qemu/talosimage: downloaded by version and schematic, cached, copied onto a
// 20 GiB system disk per node, plus a 100 GiB data disk), under SeaBIOS, with the same seeds
// and flows; that path was tested here only below the boot (no KVM, no internet). KVM is used
// when a probe guest really reaches userspace under it, TCG otherwise.
package qemu
