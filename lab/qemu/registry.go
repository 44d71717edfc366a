package qemu

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/cozylab/cozylab/lab/registry"
)

// ErrTwinE2E is Registry's answer on a twin lab: the twin runs etcd and kube-apiserver only,
// so the platform cannot run on it; the e2e pipeline stops at its push with this message.
var ErrTwinE2E = errors.New("the twin image runs no kubelet, so the e2e pipeline needs LAB_NODE_IMAGE=talos on a KVM host; lab:up works")

// startRegistry starts the lab's artifact registry on 127.0.0.1 (the harness pushes there)
// and on the bridge's gateway (the nodes pull there), with the same port when it is free
// there too, and records both addresses.
func (l *lab) startRegistry(context.Context) error {
	step := l.Progress.Begin("Starting the artifact registry")
	reg, err := registry.Start(registry.Options{})
	if err != nil {
		return step.Done(err)
	}
	l.registry = reg
	cluster, err := listenOnGateway(reg, l.plan.Gateway.String())
	if err != nil {
		return step.Done(err)
	}
	l.clusterRegistry = cluster
	if err := l.Store.Set(map[string]string{KeyRegistry: reg.Addr(), KeyClusterRegistry: cluster}); err != nil {
		return step.Done(err)
	}
	step.Status("%s for the harness, %s for the nodes", reg.Addr(), cluster)
	return step.Done(nil)
}

// listenOnGateway serves reg on gateway too, on its loopback port when that is free there,
// else on any free port, and returns the bound address.
func listenOnGateway(reg *registry.Registry, gateway string) (string, error) {
	_, port, err := net.SplitHostPort(reg.Addr())
	if err != nil {
		return "", fmt.Errorf("read the registry's port: %w", err)
	}
	if addr, err := reg.Listen(net.JoinHostPort(gateway, port)); err == nil {
		return addr, nil
	}
	return reg.Listen(net.JoinHostPort(gateway, "0"))
}

// Registry is the host:port of the lab's artifact registry as the harness reaches it
// (127.0.0.1), once the lab is up. On a twin lab it is ErrTwinE2E: nothing could run what
// the pipeline pushes.
func (p *Provider) Registry() (string, error) {
	return p.registryValue(KeyRegistry)
}

// ClusterRegistry is the same registry as the nodes reach it: the bridge's gateway. The
// installer chart's image and source references name it; every node's machine config has it
// as a plain-HTTP registry mirror.
func (p *Provider) ClusterRegistry() (string, error) {
	return p.registryValue(KeyClusterRegistry)
}

// InstallerVariant is "talos": the operator reaches the API server as on any Talos cluster.
func (p *Provider) InstallerVariant() string { return NodeImageTalos }

func (p *Provider) registryValue(key string) (string, error) {
	if err := p.CheckE2E(); err != nil {
		return "", err
	}
	store, err := p.open()
	if err != nil {
		return "", err
	}
	addr := store.Value(key)
	if addr == "" {
		return "", fmt.Errorf("QEMU lab %s has no artifact registry yet: run `go run mage.go lab:up`", p.Lab)
	}
	return addr, nil
}
