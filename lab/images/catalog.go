package images

import (
	"fmt"
	"slices"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/lab/registry"
)

// Image names: the keys of the catalog.
const (
	Pause            = "pause"
	CoreDNS          = "coredns"
	SourceController = "source-controller"
	HelmController   = "helm-controller"
	SourceWatcher    = "source-watcher"
	// KustomizeController and NotificationController complete the operator's Flux pod: the
	// platform uses neither, but a pod is Ready only when all its containers are.
	KustomizeController    = "kustomize-controller"
	NotificationController = "notification-controller"
	CozystackOperator      = "cozystack-operator"
	// Echo is the example app's server (and client: `echo get <url>`), for labs that test their
	// pod network with it; the e2e builds the echo chart's own image from its values instead.
	Echo = "echo"
)

// Image is one image the lab builds: where its binary comes from and how the image looks.
type Image struct {
	// Name is the image's key in the catalog.
	Name string
	// Upstream is the reference the manifests use, with registry and tag
	// ("registry.k8s.io/pause:3.10.1"); the image is pushed under it (PushRef).
	Upstream string
	// Tool is the binaries-cache tool that is the image's binary; empty for an in-repo main.
	Tool string
	// Package is the import path of the in-repo main package that is the image's binary, built
	// with `go build`; empty for a cached tool.
	Package string
	// Path is the binary's absolute path in the image, and the image's entrypoint.
	Path string
	// User is the image's user, as upstream's image sets it.
	User string
}

// fluxUser is the user the upstream Flux images run as.
const fluxUser = "65534:65534"

// catalog is every image, in build order: the small and in-repo ones first.
var catalog = []Image{
	{
		// Kubernetes v1.35.4 pins pause 3.10.1 (build/dependencies.yaml, kubeadm's PauseVersion);
		// the kubelet has no sandbox image of its own any more, containerd's sandbox_image names it.
		Name: Pause, Upstream: "registry.k8s.io/pause:3.10.1",
		Package: "github.com/cozylab/cozylab/lab/cmd/pause", Path: "/pause", User: "65535:65535",
	},
	{
		// Upstream runs CoreDNS as nonroot with cap_net_bind_service set on the file; this image
		// carries no file capabilities, so binding :53 needs containerd's
		// enable_unprivileged_ports (the default from containerd 2.0).
		Name: CoreDNS, Upstream: "registry.k8s.io/coredns/coredns:" + bincache.CoreDNSVersion,
		Tool: bincache.CoreDNS, Path: "/coredns", User: "65532:65532",
	},
	{
		Name: SourceController, Upstream: "ghcr.io/fluxcd/source-controller:" + bincache.SourceControllerVersion,
		Tool: bincache.SourceController, Path: "/usr/local/bin/source-controller", User: fluxUser,
	},
	{
		Name: HelmController, Upstream: "ghcr.io/fluxcd/helm-controller:" + bincache.HelmControllerVersion,
		Tool: bincache.HelmController, Path: "/usr/local/bin/helm-controller", User: fluxUser,
	},
	{
		// The module proxy does not serve source-watcher: the lab's stand-in takes its place
		// under the tag the operator's Flux names.
		Name: SourceWatcher, Upstream: "ghcr.io/fluxcd/source-watcher:v2.0.3",
		Package: "github.com/cozylab/cozylab/lab/cmd/source-watcher", Path: "/usr/local/bin/source-watcher", User: fluxUser,
	},
	{
		Name: KustomizeController, Upstream: "ghcr.io/fluxcd/kustomize-controller:" + bincache.KustomizeControllerVersion,
		Tool: bincache.KustomizeController, Path: "/usr/local/bin/kustomize-controller", User: fluxUser,
	},
	{
		Name: NotificationController, Upstream: "ghcr.io/fluxcd/notification-controller:" + bincache.NotificationControllerVersion,
		Tool: bincache.NotificationController, Path: "/usr/local/bin/notification-controller", User: fluxUser,
	},
	{
		// The installer chart's default image (packages/core/installer/values.yaml), built
		// from this checkout as e2e builds it.
		Name: CozystackOperator, Upstream: "ghcr.io/cozystack/cozystack/cozystack-operator:v1.6.0",
		Package: registry.OperatorPackage, Path: registry.OperatorBinaryPath, User: registry.NonRootUser,
	},
	{
		// The echo chart's repository (packages/system/echo/values.yaml) with a tag of the lab's.
		Name: Echo, Upstream: "ghcr.io/cozylab/echo:lab",
		Package: "github.com/cozylab/cozylab/packages/system/echo/images/echo", Path: "/echo", User: registry.NonRootUser,
	},
}

// Catalog returns every image the lab builds, in build order.
func Catalog() []Image { return slices.Clone(catalog) }

// Lookup returns the image called name.
func Lookup(name string) (Image, error) {
	for _, img := range catalog {
		if img.Name == name {
			return img, nil
		}
	}
	return Image{}, fmt.Errorf("unknown image %q: the lab builds %s", name, strings.Join(names(catalog), ", "))
}

// Hosts returns the upstream registries of the catalog's images, sorted: the hosts a node's
// containerd must mirror to the lab registry.
func Hosts() []string {
	var hosts []string
	for _, img := range catalog {
		ref, err := name.ParseReference(img.Upstream, name.StrictValidation)
		if err != nil {
			continue // the catalog's tests parse every reference
		}
		if h := ref.Context().RegistryStr(); !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	slices.Sort(hosts)
	return hosts
}

// PushRef is where the image goes in the lab registry at addr:
// "<addr>/<upstream host>/<path>:<tag>".
func (img Image) PushRef(addr string) (string, error) {
	ref, err := registry.MirrorRef(addr, img.Upstream)
	if err != nil {
		return "", fmt.Errorf("image %s: %w", img.Name, err)
	}
	return ref, nil
}

func names(imgs []Image) []string {
	out := make([]string, len(imgs))
	for i, img := range imgs {
		out[i] = img.Name
	}
	return out
}
