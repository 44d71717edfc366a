// Package local is the local provider: a real Kubernetes control plane run as local processes
// (etcd, kube-apiserver, kube-controller-manager, kube-scheduler from the binaries cache), with
// nodes and pods simulated by kwok, and — built on it — the real Flux controllers. Charts are
// really rendered, validated by the API server and installed by helm-controller; only
// containers do not run. It is the lab on machines without KVM.
//
// This file set holds the cluster layer: the control plane, kwok and the simulated nodes named
// like the Talos lab's (srv1, srv2, srv3) with a lab node's capacity.
package local
