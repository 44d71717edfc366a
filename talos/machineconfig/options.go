package machineconfig

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"strings"
)

// DefaultKubernetesVersion is the Kubernetes version the rest of the project is built against;
// Talos 1.13 supports 1.31 to 1.36.
const DefaultKubernetesVersion = "1.35.4"

// DefaultInstallDisk is the disk of a QEMU virtio guest.
const DefaultInstallDisk = "/dev/vda"

// Options describe one cluster of control-plane nodes.
type Options struct {
	// ClusterName names the cluster and the talosconfig context.
	ClusterName string
	// VIP is the shared layer-2 address the Kubernetes API is reached on: https://<VIP>:6443.
	VIP netip.Addr
	// Nodes are the control-plane nodes, in order; one config is generated per node.
	Nodes []Node
	// KubernetesVersion defaults to DefaultKubernetesVersion.
	KubernetesVersion string
	// InstallImage is the Talos installer image, used by upgrades. Empty leaves it unset, which
	// Talos 1.13 accepts: a nocloud disk image boots without installing.
	InstallImage string
	// InstallDisk defaults to DefaultInstallDisk.
	InstallDisk string
	// HTTPRegistries are registries (host:port) served over plain HTTP that the nodes pull
	// images from, such as a lab's artifact registry on its bridge. containerd speaks HTTPS to
	// every registry but localhost, so each gets a RegistryMirrorConfig document naming itself
	// as its own http:// endpoint; images <host:port>/<repo>@sha256:… then resolve.
	HTTPRegistries []string
	// RegistryMirrors send the pulls of upstream registries (registry.k8s.io, ghcr.io …) to
	// other endpoints, such as a lab's registry holding every image its nodes run: each gets a
	// RegistryMirrorConfig document. A host may not be an HTTPRegistry too.
	RegistryMirrors []RegistryMirror
	// Patches are strategic-merge patches (YAML, one or more documents each) applied to every
	// node in order, before the node's own documents.
	Patches [][]byte
}

// Node is one control-plane machine.
type Node struct {
	// Name becomes the node's hostname.
	Name string
	// Address is the node's address with its prefix length, e.g. 10.5.0.2/24.
	Address netip.Prefix
	// MAC identifies the node's lab interface; the VIP is bound to the link with this address.
	MAC net.HardwareAddr
}

// RegistryMirror is where a node's containerd pulls the images of one upstream registry from.
type RegistryMirror struct {
	// Host is the upstream registry as image references name it: "registry.k8s.io", "docker.io".
	Host string
	// Endpoints are the mirror's URLs (http:// or https://, host[:port], no path), tried in
	// order.
	Endpoints []string
	// SkipFallback keeps containerd from trying Host itself when every endpoint fails: a lab
	// whose pulls must not leave it sets it.
	SkipFallback bool
}

// withDefaults returns a copy of o with empty fields defaulted.
func (o Options) withDefaults() Options {
	if o.KubernetesVersion == "" {
		o.KubernetesVersion = DefaultKubernetesVersion
	}

	if o.InstallDisk == "" {
		o.InstallDisk = DefaultInstallDisk
	}

	return o
}

// validate reports every problem with o at once, so a caller fixes them in one go.
func (o Options) validate() error {
	var errs []error

	if o.ClusterName == "" {
		errs = append(errs, errors.New("cluster name is empty"))
	}

	if !o.VIP.IsValid() {
		errs = append(errs, errors.New("VIP is not set"))
	}

	if len(o.Nodes) == 0 {
		errs = append(errs, errors.New("no nodes given"))
	}

	seen := map[string]bool{}

	for i, n := range o.Nodes {
		switch {
		case n.Name == "":
			errs = append(errs, fmt.Errorf("node %d has no name", i))
		case seen[n.Name]:
			errs = append(errs, fmt.Errorf("node name %q is used twice", n.Name))
		}

		seen[n.Name] = true

		if !n.Address.IsValid() {
			errs = append(errs, fmt.Errorf("node %q has no address", n.Name))
		} else if o.VIP.IsValid() && n.Address.Addr() == o.VIP {
			errs = append(errs, fmt.Errorf("node %q uses the VIP %s as its own address", n.Name, o.VIP))
		}

		if len(n.MAC) == 0 {
			errs = append(errs, fmt.Errorf("node %q has no MAC address", n.Name))
		}
	}

	mirrored := map[string]bool{}

	for _, r := range o.HTTPRegistries {
		if host, port, err := net.SplitHostPort(r); err != nil || host == "" || port == "" {
			errs = append(errs, fmt.Errorf("HTTP registry %q is not host:port", r))
		}

		mirrored[r] = true
	}

	for _, m := range o.RegistryMirrors {
		errs = append(errs, m.validate(mirrored)...)
		mirrored[m.Host] = true
	}

	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("check options: %w", err)
	}

	return nil
}

// validate reports what is wrong with m; seen holds the registry hosts configured before it.
func (m RegistryMirror) validate(seen map[string]bool) []error {
	var errs []error

	switch {
	case m.Host == "" || strings.ContainsAny(m.Host, "/ "):
		errs = append(errs, fmt.Errorf("registry mirror host %q is not a registry host such as registry.k8s.io", m.Host))
	case seen[m.Host]:
		errs = append(errs, fmt.Errorf("registry %s is configured twice (mirrors and HTTP registries together)", m.Host))
	}

	if len(m.Endpoints) == 0 {
		errs = append(errs, fmt.Errorf("registry mirror %s has no endpoint", m.Host))
	}

	for _, e := range m.Endpoints {
		u, err := url.Parse(e)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" {
			errs = append(errs, fmt.Errorf("registry mirror %s: endpoint %q is not an http:// or https:// URL of a host", m.Host, e))
		}
	}

	return errs
}

// endpoint is the Kubernetes API URL on the VIP.
func (o Options) endpoint() string {
	return "https://" + netip.AddrPortFrom(o.VIP, 6443).String()
}

// nodeAddresses are the Talos API endpoints written into the talosconfig.
func (o Options) nodeAddresses() []string {
	out := make([]string, 0, len(o.Nodes))
	for _, n := range o.Nodes {
		out = append(out, n.Address.Addr().String())
	}

	return out
}
