package nocloud

import (
	"errors"
	"fmt"
	"net"
	"net/netip"

	"sigs.k8s.io/yaml"
)

// Config is what one lab node's seed says: one NIC with a static address, and the machine config.
type Config struct {
	// InstanceID identifies the instance; Hostname when empty. Changing it tells cloud-init
	// style consumers the machine is new.
	InstanceID string
	// Hostname is written as both hostname and local-hostname.
	Hostname string
	// MAC is the address QEMU gives the NIC; network-config matches the interface by it.
	MAC net.HardwareAddr
	// Address is the static address with its prefix length, for example 10.5.0.2/24.
	Address netip.Prefix
	// Gateway is the IPv4 default gateway; none when invalid (zero).
	Gateway netip.Addr
	// Nameservers are the DNS servers; none when empty.
	Nameservers []netip.Addr
	// UserData is the Talos machine config, written as is.
	UserData []byte
}

// Validate says what is wrong with c, if anything, all at once.
func (c Config) Validate() error {
	var errs []error
	if c.Hostname == "" {
		errs = append(errs, errors.New("hostname is empty"))
	}

	if len(c.MAC) != 6 {
		errs = append(errs, fmt.Errorf("MAC %q is not a 6-byte Ethernet address", c.MAC))
	}

	if !c.Address.IsValid() {
		errs = append(errs, errors.New("address is not set (want an address with prefix length, such as 10.5.0.2/24)"))
	}

	if c.Gateway.IsValid() && !c.Gateway.Is4() {
		errs = append(errs, fmt.Errorf("gateway %s is not IPv4", c.Gateway))
	}

	for i, ns := range c.Nameservers {
		if !ns.IsValid() {
			errs = append(errs, fmt.Errorf("nameserver %d is not set (leave it out instead)", i))
		}
	}

	if len(errs) > 0 {
		return fmt.Errorf("invalid seed for %q: %w", c.Hostname, errors.Join(errs...))
	}

	return nil
}

// MetaData is c's meta-data document.
func (c Config) MetaData() MetaData {
	id := c.InstanceID
	if id == "" {
		id = c.Hostname
	}

	return MetaData{InstanceID: id, LocalHostname: c.Hostname, Hostname: c.Hostname}
}

// NetworkConfig is c's network-config document.
func (c Config) NetworkConfig() NetworkConfig {
	eth := Ethernet{
		Match:     Match{MACAddress: c.MAC.String()},
		SetName:   InterfaceName,
		Addresses: []string{c.Address.String()},
	}
	if c.Gateway.IsValid() {
		eth.Gateway4 = c.Gateway.String()
	}

	if len(c.Nameservers) > 0 {
		eth.Nameservers = &Nameservers{}
		for _, ns := range c.Nameservers {
			eth.Nameservers.Addresses = append(eth.Nameservers.Addresses, ns.String())
		}
	}

	return NetworkConfig{Version: 2, Ethernets: map[string]Ethernet{InterfaceName: eth}}
}

// Render validates c and renders the three files of its seed.
func Render(c Config) (Files, error) {
	if err := c.Validate(); err != nil {
		return Files{}, err
	}

	meta, err := yaml.Marshal(c.MetaData())
	if err != nil {
		return Files{}, fmt.Errorf("render meta-data: %w", err)
	}

	network, err := yaml.Marshal(c.NetworkConfig())
	if err != nil {
		return Files{}, fmt.Errorf("render network-config: %w", err)
	}

	return Files{MetaData: meta, NetworkConfig: network, UserData: c.UserData}, nil
}
