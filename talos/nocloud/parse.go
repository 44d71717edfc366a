package nocloud

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// Seed is a seed read back: its documents parsed and its interfaces checked.
type Seed struct {
	MetaData MetaData
	// Interfaces are network-config's ethernets, sorted by ID.
	Interfaces []Interface
	// UserData is the machine config, as is; nil when the seed has none.
	UserData []byte
}

// Interface is one ethernet of network-config, checked and parsed.
type Interface struct {
	// ID is the key under ethernets.
	ID string
	// MAC selects the link; nil means select by Name.
	MAC net.HardwareAddr
	// Name is the link's name when MAC is nil: match.name, or else the ID.
	Name        string
	Addresses   []netip.Prefix
	Gateway     netip.Addr
	Nameservers []netip.Addr
}

// Parse parses and checks the files of a seed. The first error names the file and the key that
// was wrong.
func Parse(f Files) (Seed, error) {
	meta, err := ParseMetaData(f.MetaData)
	if err != nil {
		return Seed{}, err
	}

	if len(bytes.TrimSpace(f.NetworkConfig)) == 0 {
		return Seed{}, errors.New("parse network-config: the seed has none: write version 2 with ethernets matched by macaddress")
	}

	nc, err := ParseNetworkConfig(f.NetworkConfig)
	if err != nil {
		return Seed{}, err
	}

	ifaces, err := nc.Interfaces()
	if err != nil {
		return Seed{}, fmt.Errorf("parse network-config: %w", err)
	}

	return Seed{MetaData: meta, Interfaces: ifaces, UserData: f.UserData}, nil
}

// ParseMetaData parses a meta-data file; keys it does not know are ignored.
func ParseMetaData(data []byte) (MetaData, error) {
	var m MetaData
	if err := yaml.Unmarshal(data, &m); err != nil {
		return MetaData{}, fmt.Errorf("parse meta-data: %w", err)
	}

	return m, nil
}

// ParseNetworkConfig parses a network-config file, bare or under a top-level network: key; keys
// it does not know are ignored. Only version 2 is accepted: version 1 is not what the lab writes.
func ParseNetworkConfig(data []byte) (NetworkConfig, error) {
	var wrapped struct {
		Network *NetworkConfig `json:"network"`
	}
	if err := yaml.Unmarshal(data, &wrapped); err != nil {
		return NetworkConfig{}, fmt.Errorf("parse network-config: %w", err)
	}

	nc := wrapped.Network
	if nc == nil {
		nc = &NetworkConfig{}
		if err := yaml.Unmarshal(data, nc); err != nil {
			return NetworkConfig{}, fmt.Errorf("parse network-config: %w", err)
		}
	}

	if nc.Version != 2 {
		return NetworkConfig{}, fmt.Errorf("parse network-config: version %d is not supported: write version 2 (ethernets matched by macaddress)", nc.Version)
	}

	return *nc, nil
}

// Interfaces checks every ethernet of n and returns them sorted by ID.
func (n NetworkConfig) Interfaces() ([]Interface, error) {
	ids := make([]string, 0, len(n.Ethernets))
	for id := range n.Ethernets {
		ids = append(ids, id)
	}

	slices.Sort(ids)

	out := make([]Interface, 0, len(ids))

	for _, id := range ids {
		iface, err := parseEthernet(id, n.Ethernets[id])
		if err != nil {
			return nil, fmt.Errorf("ethernets.%s: %w", id, err)
		}

		out = append(out, iface)
	}

	return out, nil
}

func parseEthernet(id string, e Ethernet) (Interface, error) {
	iface := Interface{ID: id, Name: e.Match.Name}

	if e.Match.MACAddress != "" {
		mac, err := net.ParseMAC(e.Match.MACAddress)
		if err != nil {
			return Interface{}, fmt.Errorf("match.macaddress: %w", err)
		}

		iface.MAC = mac
	} else if iface.Name == "" {
		iface.Name = id // netplan: without a match, the ID is the interface name
	}

	for _, a := range e.Addresses {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return Interface{}, fmt.Errorf("address %q is not in CIDR form (such as 10.5.0.2/24): %w", a, err)
		}

		iface.Addresses = append(iface.Addresses, p)
	}

	gw, err := parseGateway(e)
	if err != nil {
		return Interface{}, err
	}

	iface.Gateway = gw

	if e.Nameservers != nil {
		for _, ns := range e.Nameservers.Addresses {
			a, err := netip.ParseAddr(strings.TrimSpace(ns))
			if err != nil {
				return Interface{}, fmt.Errorf("nameserver %q: %w", ns, err)
			}

			iface.Nameservers = append(iface.Nameservers, a)
		}
	}

	return iface, nil
}

// parseGateway reads the default gateway: gateway4, overridden by a route to default (netplan
// deprecates gateway4 in favour of routes).
func parseGateway(e Ethernet) (netip.Addr, error) {
	var gw netip.Addr

	if e.Gateway4 != "" {
		a, err := netip.ParseAddr(e.Gateway4)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("gateway %q: %w", e.Gateway4, err)
		}

		if !a.Is4() {
			return netip.Addr{}, fmt.Errorf("gateway %q: gateway4 takes an IPv4 address", e.Gateway4)
		}

		gw = a
	}

	for _, r := range e.Routes {
		if r.To != "default" && r.To != "0.0.0.0/0" {
			continue
		}

		a, err := netip.ParseAddr(r.Via)
		if err != nil {
			return netip.Addr{}, fmt.Errorf("gateway %q (routes, to %s): %w", r.Via, r.To, err)
		}

		gw = a
	}

	return gw, nil
}
