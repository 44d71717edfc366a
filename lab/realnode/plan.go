package realnode

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"

	"github.com/cozylab/cozylab/internal/subnet"
)

// Addresses inside the node's /24: the veth pair's /30 at its start, the pods' /25 at its end.
const (
	hostOffset       = 1   // the host end of the veth: the API server and registry serve here
	nodeOffset       = 2   // the node end: the node's InternalIP
	uplinkBits       = 30  // the veth pair's network
	podOffset        = 128 // the pods' network …
	podBits          = 25  // … a /25: 125 pod addresses
	podGatewayOffset = 129 // the pods' bridge
)

// NodeName is the real node's name in its cluster (the kwok nodes are srv1…srv3).
const NodeName = "node1"

// Bridge is the pods' bridge inside the node's namespace (the namespace keeps it apart from
// any other lab's).
const Bridge = "cozy0"

// Host-side names: LinkPrefix+short for the host end of the veth, CgroupPrefix+short for the
// cgroup root. short is the lab name, or a hash of it when the name is long.
const (
	LinkPrefix   = "czn-"
	CgroupPrefix = "cozylab-"
	shortMax     = 11 // a link name has at most 15 bytes
)

var literalShort = regexp.MustCompile(`^[a-z0-9]{1,11}$`)

// Plan is the node's place on the host, derived from the lab name and a free /24. Plain data:
// kept in the lab's state so teardown finds everything after a crash.
type Plan struct {
	Lab string `json:"lab"`
	// Subnet is the node's /24 (from subnet.Range).
	Subnet netip.Prefix `json:"subnet"`
	// HostLink is the host end of the veth pair; the node end is eth0 in the namespace.
	HostLink string `json:"hostLink"`
	// Host is the host end's address: the API server and the lab registry serve on it.
	Host netip.Addr `json:"host"`
	// Node is the node's address (its InternalIP).
	Node netip.Addr `json:"node"`
	// Pods is the pods' network; PodGateway the bridge's address in it.
	Pods       netip.Prefix `json:"pods"`
	PodGateway netip.Addr   `json:"podGateway"`
	// CgroupRoot is the kubelet's cgroup root, in every cgroup hierarchy.
	CgroupRoot string `json:"cgroupRoot"`
}

// NewPlan lays the node out on sub, an IPv4 /24 (usually from ChooseSubnet).
func NewPlan(lab string, sub netip.Prefix) (Plan, error) {
	if !sub.IsValid() || !sub.Addr().Is4() || sub.Bits() != 24 {
		return Plan{}, fmt.Errorf("plan the real node of lab %s: subnet %s: use an IPv4 /24 such as 10.213.0.0/24", lab, sub)
	}
	sub = sub.Masked()
	short := shortName(lab)
	return Plan{
		Lab: lab, Subnet: sub, HostLink: LinkPrefix + short,
		Host: subnet.Offset(sub, hostOffset), Node: subnet.Offset(sub, nodeOffset),
		Pods: netip.PrefixFrom(subnet.Offset(sub, podOffset), podBits), PodGateway: subnet.Offset(sub, podGatewayOffset),
		CgroupRoot: "/" + CgroupPrefix + short,
	}, nil
}

// shortName is the lab name when it fits a link name, else a hash of it.
func shortName(lab string) string {
	if literalShort.MatchString(lab) {
		return lab
	}
	sum := sha256.Sum256([]byte(lab))
	return hex.EncodeToString(sum[:])[:shortMax]
}

// uplink returns the veth pair's prefixes (host end, node end).
func (p Plan) uplink() (host, node netip.Prefix) {
	return netip.PrefixFrom(p.Host, uplinkBits), netip.PrefixFrom(p.Node, uplinkBits)
}

// Validate checks a plan read back from a state file before anything is changed with it.
func (p Plan) Validate() error {
	want, err := NewPlan(p.Lab, p.Subnet)
	if err != nil {
		return err
	}
	if p != want {
		return fmt.Errorf("the real node's plan in the lab state does not match its lab %q and subnet %s: remove the lab directory and run lab:up again", p.Lab, p.Subnet)
	}
	return nil
}
