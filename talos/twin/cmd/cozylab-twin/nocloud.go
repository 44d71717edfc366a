package main

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"
)

// metaData is the part of NoCloud meta-data the twin uses.
type metaData struct {
	InstanceID    string `json:"instance-id"`
	Hostname      string `json:"hostname"`
	LocalHostname string `json:"local-hostname"`
}

// name is the hostname meta-data asks for: local-hostname wins, as in cloud-init.
func (m metaData) name() string {
	if m.LocalHostname != "" {
		return m.LocalHostname
	}

	return m.Hostname
}

func parseMetaData(data []byte) (metaData, error) {
	var m metaData
	if err := yaml.Unmarshal(data, &m); err != nil {
		return metaData{}, fmt.Errorf("parse meta-data: %w", err)
	}

	return m, nil
}

// networkConfig is NoCloud network-config version 2 (netplan-like), the subset the lab writes:
// ethernets matched by MAC (or name) with static addresses, a gateway and nameservers.
type networkConfig struct {
	Version   int                 `json:"version"`
	Ethernets map[string]ethernet `json:"ethernets"`
}

type ethernet struct {
	Match struct {
		MACAddress string `json:"macaddress"`
		Name       string `json:"name"`
	} `json:"match"`
	Addresses   []string `json:"addresses"`
	Gateway4    string   `json:"gateway4"`
	Nameservers struct {
		Addresses []string `json:"addresses"`
	} `json:"nameservers"`
	Routes []struct {
		To  string `json:"to"`
		Via string `json:"via"`
	} `json:"routes"`
}

// nicConfig is one interface to configure, checked and parsed.
type nicConfig struct {
	// ID is the key under ethernets.
	ID string
	// MAC selects the link; nil means select by Name.
	MAC         net.HardwareAddr
	Name        string
	Addresses   []netip.Prefix
	Gateway     netip.Addr
	Nameservers []netip.Addr
}

// parseNetworkConfig reads network-config, bare or under a top-level network: key, and returns
// the interfaces sorted by ID. Only version 2 is accepted: version 1 is not what the lab writes.
func parseNetworkConfig(data []byte) ([]nicConfig, error) {
	var wrapped struct {
		Network *networkConfig `json:"network"`
	}
	if err := yaml.Unmarshal(data, &wrapped); err != nil {
		return nil, fmt.Errorf("parse network-config: %w", err)
	}

	nc := wrapped.Network
	if nc == nil {
		nc = &networkConfig{}
		if err := yaml.Unmarshal(data, nc); err != nil {
			return nil, fmt.Errorf("parse network-config: %w", err)
		}
	}

	if nc.Version != 2 {
		return nil, fmt.Errorf("parse network-config: version %d is not supported: write version 2 (ethernets matched by macaddress)", nc.Version)
	}

	ids := make([]string, 0, len(nc.Ethernets))
	for id := range nc.Ethernets {
		ids = append(ids, id)
	}

	slices.Sort(ids)

	out := make([]nicConfig, 0, len(ids))

	for _, id := range ids {
		nic, err := parseEthernet(id, nc.Ethernets[id])
		if err != nil {
			return nil, fmt.Errorf("parse network-config: ethernets.%s: %w", id, err)
		}

		out = append(out, nic)
	}

	return out, nil
}

func parseEthernet(id string, e ethernet) (nicConfig, error) {
	nic := nicConfig{ID: id, Name: e.Match.Name}

	if e.Match.MACAddress != "" {
		mac, err := net.ParseMAC(e.Match.MACAddress)
		if err != nil {
			return nicConfig{}, fmt.Errorf("match.macaddress: %w", err)
		}

		nic.MAC = mac
	} else if nic.Name == "" {
		nic.Name = id // netplan: without a match, the ID is the interface name
	}

	for _, a := range e.Addresses {
		p, err := netip.ParsePrefix(a)
		if err != nil {
			return nicConfig{}, fmt.Errorf("address %q is not in CIDR form: %w", a, err)
		}

		nic.Addresses = append(nic.Addresses, p)
	}

	gw := e.Gateway4

	for _, r := range e.Routes {
		if r.To == "default" || r.To == "0.0.0.0/0" {
			gw = r.Via
		}
	}

	if gw != "" {
		a, err := netip.ParseAddr(gw)
		if err != nil {
			return nicConfig{}, fmt.Errorf("gateway %q: %w", gw, err)
		}

		nic.Gateway = a
	}

	for _, ns := range e.Nameservers.Addresses {
		a, err := netip.ParseAddr(strings.TrimSpace(ns))
		if err != nil {
			return nicConfig{}, fmt.Errorf("nameserver %q: %w", ns, err)
		}

		nic.Nameservers = append(nic.Nameservers, a)
	}

	return nic, nil
}

// resolvConf renders /etc/resolv.conf for the nameservers of every interface.
func resolvConf(nics []nicConfig) []byte {
	var b strings.Builder

	for _, nic := range nics {
		for _, ns := range nic.Nameservers {
			fmt.Fprintf(&b, "nameserver %s\n", ns)
		}
	}

	return []byte(b.String())
}
