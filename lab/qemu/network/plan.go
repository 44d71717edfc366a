package network

import (
	"github.com/cozylab/cozylab/internal/subnet"

	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"

	"github.com/cozylab/cozylab/lab/state"
)

const (
	// LinkPrefix starts every link name this package creates.
	LinkPrefix = "czl-"
	// TablePrefix starts the name of every lab's nftables table (family ip).
	TablePrefix = "cozylab-"
	// MaxNodes is the most taps one lab can have: tap names keep two digits for the index.
	MaxNodes = 99
	// GatewayOffset, VIPOffset and FirstNodeOffset place the bridge address, the VIP and node 1
	// inside the lab's /24.
	GatewayOffset   = 1
	VIPOffset       = 10
	FirstNodeOffset = 11

	maxLiteralShort = 7
	hashShort       = 8
	ifNameMax       = 15
)

var literalShort = regexp.MustCompile(`^[a-z0-9]{1,7}$`)

// Names are the host objects of one lab, all derived from its name. They are what teardown
// needs: taps are found by the prefix Bridge+"-", so no node count is needed.
type Names struct {
	// Lab is the lab name.
	Lab string `json:"lab"`
	// Bridge is the name of the lab's bridge, also the prefix (with "-") of its taps.
	Bridge string `json:"bridge"`
	// Table is the lab's nftables table (family ip).
	Table string `json:"table"`
}

// NamesFor derives the lab's names. The lab name must be a valid lab name (lab/state).
func NamesFor(lab string) (Names, error) {
	if err := state.ValidateName(lab); err != nil {
		return Names{}, err
	}
	short := lab
	if !literalShort.MatchString(lab) {
		sum := sha256.Sum256([]byte(lab))
		short = hex.EncodeToString(sum[:])[:hashShort]
	}
	return Names{Lab: lab, Bridge: LinkPrefix + short, Table: TablePrefix + lab}, nil
}

// Tap is the name of node i's tap; i counts from 1.
func (n Names) Tap(i int) string { return n.tapPrefix() + strconv.Itoa(i) }

func (n Names) tapPrefix() string { return n.Bridge + "-" }

// isTap says whether a link name belongs to this lab's taps.
func (n Names) isTap(name string) bool {
	rest, ok := strings.CutPrefix(name, n.tapPrefix())
	if !ok || rest == "" {
		return false
	}
	_, err := strconv.Atoi(rest)
	return err == nil
}

// Node is one node's place on the lab network.
type Node struct {
	// Tap is the tap device the node's NIC is attached to.
	Tap string `json:"tap"`
	// Addr is the node's static address inside the subnet.
	Addr netip.Addr `json:"addr"`
}

// Plan is one lab's network: names, subnet and addresses. It is plain data, safe to keep in a
// state file (JSON).
type Plan struct {
	Names
	// Subnet is the lab's /24.
	Subnet netip.Prefix `json:"subnet"`
	// Gateway is the bridge's address (.1), the nodes' default gateway.
	Gateway netip.Addr `json:"gateway"`
	// VIP is the address the control plane shares (.10).
	VIP netip.Addr `json:"vip"`
	// Nodes are the nodes in order: Nodes[0] is node 1 (.11).
	Nodes []Node `json:"nodes"`
}

// NewPlan lays out the network of lab with nodes nodes on subnet, an IPv4 /24 (usually from
// ChooseSubnet). The same inputs always give the same plan.
func NewPlan(lab string, nodes int, sub netip.Prefix) (Plan, error) {
	names, err := NamesFor(lab)
	if err != nil {
		return Plan{}, err
	}
	if nodes < 1 || nodes > MaxNodes {
		return Plan{}, fmt.Errorf("plan network of lab %s: %d nodes: use 1 to %d", lab, nodes, MaxNodes)
	}
	if !sub.IsValid() || !sub.Addr().Is4() || sub.Bits() != 24 {
		return Plan{}, fmt.Errorf("plan network of lab %s: subnet %s: use an IPv4 /24 such as 10.213.0.0/24", lab, sub)
	}
	sub = sub.Masked()
	p := Plan{
		Names:   names,
		Subnet:  sub,
		Gateway: subnet.Offset(sub, GatewayOffset),
		VIP:     subnet.Offset(sub, VIPOffset),
	}
	for i := 1; i <= nodes; i++ {
		p.Nodes = append(p.Nodes, Node{Tap: names.Tap(i), Addr: subnet.Offset(sub, FirstNodeOffset+i-1)})
	}
	return p, nil
}

// GatewayPrefix is the bridge address with the subnet's length, as it is set on the bridge.
func (p Plan) GatewayPrefix() netip.Prefix { return netip.PrefixFrom(p.Gateway, p.Subnet.Bits()) }

// Validate checks a plan read back from a state file before anything is changed with it.
func (p Plan) Validate() error {
	if p.Lab == "" || !strings.HasPrefix(p.Bridge, LinkPrefix) || !strings.HasPrefix(p.Table, TablePrefix) {
		return fmt.Errorf("network plan %q: lab, bridge or table name missing; make the plan with NewPlan", p.Lab)
	}
	if !p.Subnet.IsValid() || !p.Subnet.Addr().Is4() || !p.Subnet.Contains(p.Gateway) {
		return fmt.Errorf("network plan %s: subnet %s does not hold gateway %s", p.Lab, p.Subnet, p.Gateway)
	}
	for _, name := range p.linkNames() {
		if len(name) > ifNameMax {
			return fmt.Errorf("network plan %s: link name %q is longer than %d characters", p.Lab, name, ifNameMax)
		}
	}
	for _, n := range p.Nodes {
		if !p.isTap(n.Tap) || !p.Subnet.Contains(n.Addr) {
			return fmt.Errorf("network plan %s: node %s at %s is not a tap of %s inside %s", p.Lab, n.Tap, n.Addr, p.Bridge, p.Subnet)
		}
	}
	return nil
}

func (p Plan) linkNames() []string {
	out := []string{p.Bridge}
	for _, n := range p.Nodes {
		out = append(out, n.Tap)
	}
	return out
}
