package nocloud

// VolumeLabel is the label of the volume holding the seed; Talos' nocloud platform looks for it
// (in either case).
const VolumeLabel = "cidata"

// File names at the root of the seed volume.
const (
	MetaDataFile      = "meta-data"
	NetworkConfigFile = "network-config"
	UserDataFile      = "user-data"
)

// InterfaceName is the name Render's network-config gives the node's one NIC, both as its key
// under ethernets and as set-name.
const InterfaceName = "eth0"

// Files are the raw contents of a seed, as they sit on the volume. A missing file is nil.
type Files struct {
	MetaData      []byte
	NetworkConfig []byte
	UserData      []byte
}

// MetaData is the meta-data document.
type MetaData struct {
	InstanceID    string `json:"instance-id"`
	LocalHostname string `json:"local-hostname"`
	Hostname      string `json:"hostname"`
}

// Name is the hostname meta-data asks for: local-hostname wins, as in cloud-init.
func (m MetaData) Name() string {
	if m.LocalHostname != "" {
		return m.LocalHostname
	}

	return m.Hostname
}

// NetworkConfig is the network-config document, version 2 (netplan-like), with the keys the lab
// uses.
type NetworkConfig struct {
	Version   int                 `json:"version"`
	Ethernets map[string]Ethernet `json:"ethernets"`
}

// Ethernet is one interface of a version 2 network-config, keyed by an ID under ethernets.
type Ethernet struct {
	Match       Match        `json:"match"`
	SetName     string       `json:"set-name,omitempty"`
	Addresses   []string     `json:"addresses,omitempty"`
	Gateway4    string       `json:"gateway4,omitempty"`
	Nameservers *Nameservers `json:"nameservers,omitempty"`
	Routes      []Route      `json:"routes,omitempty"`
}

// Match selects the link an Ethernet applies to; with neither key set, the ID under ethernets
// names the link.
type Match struct {
	MACAddress string `json:"macaddress,omitempty"`
	Name       string `json:"name,omitempty"`
}

// Nameservers lists DNS servers.
type Nameservers struct {
	Addresses []string `json:"addresses,omitempty"`
}

// Route is a static route; one to "default" (or 0.0.0.0/0) is how newer netplan writes the
// gateway instead of gateway4.
type Route struct {
	To  string `json:"to"`
	Via string `json:"via"`
}
