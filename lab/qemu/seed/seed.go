package seed

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"

	"github.com/kdomanski/iso9660"
	"sigs.k8s.io/yaml"
)

// VolumeLabel is the label Talos' nocloud platform looks for.
const VolumeLabel = "cidata"

// File names at the root of the seed.
const (
	MetaDataFile      = "meta-data"
	NetworkConfigFile = "network-config"
	UserDataFile      = "user-data"
)

// InterfaceName is the name network-config gives the node's one NIC (set-name).
const InterfaceName = "eth0"

// Config is what one node's seed says.
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

// MetaData is the meta-data file.
type MetaData struct {
	InstanceID    string `json:"instance-id"`
	LocalHostname string `json:"local-hostname"`
	Hostname      string `json:"hostname"`
}

// NetworkConfig is the network-config file (version 2).
type NetworkConfig struct {
	Version   int                 `json:"version"`
	Ethernets map[string]Ethernet `json:"ethernets"`
}

// Ethernet is one interface of a version 2 network-config.
type Ethernet struct {
	Match       Match        `json:"match"`
	SetName     string       `json:"set-name,omitempty"`
	Addresses   []string     `json:"addresses,omitempty"`
	Gateway4    string       `json:"gateway4,omitempty"`
	Nameservers *Nameservers `json:"nameservers,omitempty"`
}

// Match selects the interface an Ethernet applies to.
type Match struct {
	MACAddress string `json:"macaddress,omitempty"`
	Name       string `json:"name,omitempty"`
}

// Nameservers lists DNS servers.
type Nameservers struct {
	Addresses []string `json:"addresses,omitempty"`
}

// Validate says what is wrong with c, if anything.
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
	if len(errs) > 0 {
		return fmt.Errorf("invalid seed for %q: %w", c.Hostname, errors.Join(errs...))
	}
	return nil
}

// MetaData renders c's meta-data.
func (c Config) MetaData() MetaData {
	id := c.InstanceID
	if id == "" {
		id = c.Hostname
	}
	return MetaData{InstanceID: id, LocalHostname: c.Hostname, Hostname: c.Hostname}
}

// NetworkConfig renders c's network-config.
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

// Write writes c as an ISO 9660 image to w.
func Write(w io.Writer, c Config) error {
	if err := c.Validate(); err != nil {
		return err
	}
	meta, err := yaml.Marshal(c.MetaData())
	if err != nil {
		return fmt.Errorf("render meta-data: %w", err)
	}
	network, err := yaml.Marshal(c.NetworkConfig())
	if err != nil {
		return fmt.Errorf("render network-config: %w", err)
	}
	iw, err := iso9660.NewWriter() // stages in a 0700 temporary directory
	if err != nil {
		return fmt.Errorf("create seed image writer: %w", err)
	}
	files := []struct {
		name string
		data []byte
	}{{MetaDataFile, meta}, {NetworkConfigFile, network}, {UserDataFile, c.UserData}}
	for _, f := range files {
		if err := iw.AddFile(bytes.NewReader(f.data), f.name); err != nil {
			return errors.Join(fmt.Errorf("add %s to seed: %w", f.name, err), iw.Cleanup())
		}
	}
	if err := iw.WriteTo(w, VolumeLabel); err != nil {
		return errors.Join(fmt.Errorf("write seed image: %w", err), iw.Cleanup())
	}
	return iw.Cleanup()
}

// WriteFile writes c's seed image to path (mode 0600: user-data holds the cluster's secrets),
// replacing any file there only once the new image is complete.
func WriteFile(path string, c Config) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("create seed %s: %w", path, err)
	}
	werr := Write(tmp, c)
	if werr == nil {
		werr = tmp.Sync()
	}
	if err := tmp.Close(); err != nil && werr == nil {
		werr = err
	}
	if werr == nil {
		werr = os.Rename(tmp.Name(), path)
	}
	if werr != nil {
		return errors.Join(fmt.Errorf("write seed %s: %w", path, werr), removeIfExists(tmp.Name()))
	}
	return nil
}

func removeIfExists(path string) error {
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}
