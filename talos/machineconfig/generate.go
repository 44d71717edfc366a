package machineconfig

import (
	"fmt"
	"net/netip"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/siderolabs/talos/pkg/machinery/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configpatcher"
	"github.com/siderolabs/talos/pkg/machinery/config/encoder"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/generate/secrets"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
)

// NodeConfig is the validated machine config of one node.
type NodeConfig struct {
	// Name is the node's name, as in Options.Nodes.
	Name string
	// Address is the node's address, the Talos API endpoint to apply Config to.
	Address netip.Addr
	// Config is the machine config YAML, multi-document, without comments.
	Config []byte
	// Warnings are machinery's validation warnings; they do not stop a node from booting.
	Warnings []string
}

// Result is everything Generate produces for one cluster.
type Result struct {
	// Nodes hold one config per node, in the order of Options.Nodes.
	Nodes []NodeConfig
	// Talosconfig is an admin client config for the cluster, with every node as an endpoint.
	// Its client certificate is freshly issued on each call; save it with SaveTalosconfig.
	Talosconfig *clientconfig.Config
}

// Generate builds one control-plane config per node from o and bundle, and an admin talosconfig.
//
// Every node gets the caller's patches, then the registry mirror documents (HTTP registries,
// then RegistryMirrors), then its own hostname, lab link alias and VIP documents; the node's
// documents come last so a shared patch cannot give two nodes the same identity.
// Each result is validated for the nocloud platform before it is returned.
func Generate(o Options, bundle *secrets.Bundle) (*Result, error) {
	o = o.withDefaults()

	if err := o.validate(); err != nil {
		return nil, err
	}

	patches, err := loadPatches(o.Patches)
	if err != nil {
		return nil, err
	}

	registries, err := registriesPatch(o)
	if err != nil {
		return nil, err
	}

	if registries != nil {
		patches = append(patches, registries)
	}

	genOpts := []generate.Option{
		generate.WithVersionContract(config.TalosVersionCurrent),
		generate.WithSecretsBundle(bundle),
		generate.WithEndpointList(o.nodeAddresses()),
		generate.WithAdditionalSubjectAltNames([]string{o.VIP.String()}),
		generate.WithInstallDisk(o.InstallDisk),
	}

	if o.InstallImage != "" {
		genOpts = append(genOpts, generate.WithInstallImage(o.InstallImage))
	}

	input, err := generate.NewInput(o.ClusterName, o.endpoint(), o.KubernetesVersion, genOpts...)
	if err != nil {
		return nil, fmt.Errorf("prepare config input for cluster %s: %w", o.ClusterName, err)
	}

	res := &Result{}

	for _, n := range o.Nodes {
		nc, err := generateNode(input, o, n, patches)
		if err != nil {
			return nil, fmt.Errorf("generate config for node %s: %w", n.Name, err)
		}

		res.Nodes = append(res.Nodes, nc)
	}

	res.Talosconfig, err = input.Talosconfig()
	if err != nil {
		return nil, fmt.Errorf("generate talosconfig for cluster %s: %w", o.ClusterName, err)
	}

	return res, nil
}

// generateNode builds, patches, validates and encodes the config of node n.
func generateNode(input *generate.Input, o Options, n Node, patches []configpatcher.Patch) (NodeConfig, error) {
	cfg, err := input.Config(machine.TypeControlPlane)
	if err != nil {
		return NodeConfig{}, fmt.Errorf("build control-plane config: %w", err)
	}

	if cfg, err = applyPatches(cfg, patches); err != nil {
		return NodeConfig{}, fmt.Errorf("apply lab patches: %w", err)
	}

	own, err := nodePatch(o, n)
	if err != nil {
		return NodeConfig{}, err
	}

	if cfg, err = applyPatches(cfg, []configpatcher.Patch{own}); err != nil {
		return NodeConfig{}, fmt.Errorf("apply node documents: %w", err)
	}

	warnings, err := Validate(cfg)
	if err != nil {
		return NodeConfig{}, err
	}

	data, err := cfg.EncodeBytes(encoder.WithComments(encoder.CommentsDisabled))
	if err != nil {
		return NodeConfig{}, fmt.Errorf("encode config: %w", err)
	}

	return NodeConfig{Name: n.Name, Address: n.Address.Addr(), Config: data, Warnings: warnings}, nil
}
