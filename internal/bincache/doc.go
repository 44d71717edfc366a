// Package bincache builds, pins and caches the programs cozylab runs but cannot download: etcd,
// the Kubernetes control-plane and node binaries (kubelet, kube-proxy), kwok, controller-gen,
// CoreDNS and the Flux source-controller and helm-controller.
//
// Every program is described once, as data, in the Tools table: the module and package it is
// built from, the exact version, the build tags and linker flags, and the tools module it is
// built in. Tools modules live under tools/<dir>/, each with its own committed go.mod and go.sum,
// so that k8s.io/kubernetes and its replace directives never reach the product's go.mod.
//
// Binaries are cached by name and version under $XDG_CACHE_HOME/cozylab/bin/<name>/<version>/.
// A per-binary file lock makes concurrent callers (parallel test binaries, two terminals) build
// once; a global build lock keeps the machine to one multi-gigabyte link at a time; a binary is
// written under a temporary name and renamed into place only after it reported its pinned
// version, so a half-written or wrong binary is never used. A stamp next to each binary records a
// digest of its build recipe (table entry, tools module go.sum, Go version): change any of them
// and the next Ensure rebuilds.
//
// Where there is no Go toolchain (the sandbox image), a tool found in the prebuilt directory
// ($COZYLAB_PREBUILT/<name>, internal/prebuilt) is used in place once its build information
// names the pinned version: neither the go command nor the tools modules are consulted.
package bincache
