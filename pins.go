//go:build pins

// Package main pins, through blank imports, the modules cozylab is built on before each has a
// real importer: go mod tidy keeps them, so their versions stay exactly as chosen and known to
// build together. Drop a line when code in the module imports that package.
package main

import (
	_ "github.com/cavaliergopher/cpio"
	_ "github.com/digitalocean/go-qemu/qmp"
	_ "github.com/fluxcd/helm-controller/api/v2"
	_ "github.com/fluxcd/source-controller/api/v1"
	_ "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	_ "github.com/google/go-containerregistry/pkg/registry"
	_ "github.com/google/go-containerregistry/pkg/v1/remote"
	_ "github.com/google/nftables"
	_ "github.com/kdomanski/iso9660"
	_ "github.com/magefile/mage/mage"
	_ "github.com/siderolabs/talos/pkg/machinery/client"
	_ "github.com/siderolabs/talos/pkg/machinery/config/generate"
	_ "github.com/stretchr/testify/require"
	_ "github.com/ulikunitz/xz"
	_ "github.com/vishvananda/netlink"
	_ "helm.sh/helm/v3/pkg/action"
	_ "k8s.io/client-go/kubernetes"
	_ "sigs.k8s.io/controller-runtime"
)
