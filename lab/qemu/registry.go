package qemu

import (
	"context"
	"fmt"
	"net"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/lab/state"
)

// startRegistry starts the lab's artifact registry on 127.0.0.1 (the harness pushes there)
// and on the bridge's gateway (the nodes pull there), with the same port when it is free
// there too, and records both addresses. A resumed lab takes its former port again when it
// can, so the kept machine configs (which name the registry) stay valid.
func (l *lab) startRegistry(_ context.Context, step progress.Step) error {
	f, err := state.LoadFacts[facts](l.store)
	if err != nil {
		return err
	}
	reg, err := registry.Start(registry.Options{Prefer: f.Registry})
	if err != nil {
		return err
	}
	l.registry = reg
	cluster, err := listenOnGateway(reg, l.plan.Gateway.String())
	if err != nil {
		return err
	}
	l.clusterRegistry = cluster
	step.Status("%s for the harness, %s for the nodes", reg.Addr(), cluster)
	return state.UpdateFacts(l.store, func(f *facts) { f.Registry, f.ClusterRegistry = reg.Addr(), cluster })
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

// Registry implements provider.Platform: the artifact registry as the harness reaches it
// (127.0.0.1), once the lab is up.
func (p *Provider) Registry() (string, error) {
	return p.registry(func(f facts) string { return f.Registry })
}

// ClusterRegistry implements provider.Platform: the same registry as the nodes reach it, the
// bridge's gateway. The installer chart's image and source references name it; every node's
// machine config has it as a plain-HTTP registry, and as the mirror of every upstream registry
// the lab's images come from (RegistryMirrors).
func (p *Provider) ClusterRegistry() (string, error) {
	return p.registry(func(f facts) string { return f.ClusterRegistry })
}

// OperatorVariant implements provider.Platform: "talos", the operator reaches the API server
// as on any Talos cluster.
func (p *Provider) OperatorVariant() string { return "talos" }

func (p *Provider) registry(pick func(facts) string) (string, error) {
	store, err := p.Open()
	if err != nil {
		return "", err
	}
	f, err := state.LoadFacts[facts](store)
	if err != nil {
		return "", err
	}
	if addr := pick(f); addr != "" {
		return addr, nil
	}
	return "", fmt.Errorf("QEMU lab %s has no artifact registry yet: run `go run mage.go lab:up`", p.Request.Name)
}
