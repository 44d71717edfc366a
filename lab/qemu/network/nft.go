package network

import (
	"fmt"
	"net"
	"slices"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// Chain names inside a lab's table.
const (
	// PostroutingChain is the nat chain that masquerades the lab's subnet.
	PostroutingChain = "postrouting"
	// ForwardChain is the filter chain that accepts traffic from and to the bridge.
	ForwardChain = "forward"
)

// applyTable replaces the lab's table in one transaction: add (so delete cannot fail on a
// missing table), delete, then build it again. Rules are never duplicated by a re-run.
func applyTable(c *nftables.Conn, p Plan) error {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: p.Table}
	c.AddTable(t)
	c.DelTable(t)
	c.AddTable(t)
	accept := nftables.ChainPolicyAccept
	post := c.AddChain(&nftables.Chain{
		Name: PostroutingChain, Table: t, Type: nftables.ChainTypeNAT,
		Hooknum: nftables.ChainHookPostrouting, Priority: nftables.ChainPriorityNATSource, Policy: &accept,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: post, Exprs: masqueradeExprs(p)})
	fwd := c.AddChain(&nftables.Chain{
		Name: ForwardChain, Table: t, Type: nftables.ChainTypeFilter,
		Hooknum: nftables.ChainHookForward, Priority: nftables.ChainPriorityFilter, Policy: &accept,
	})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: acceptIfname(expr.MetaKeyIIFNAME, p.Bridge)})
	c.AddRule(&nftables.Rule{Table: t, Chain: fwd, Exprs: acceptIfname(expr.MetaKeyOIFNAME, p.Bridge)})
	if err := c.Flush(); err != nil {
		return fmt.Errorf("write nftables table %s: %w", p.Table, err)
	}
	return nil
}

// masqueradeExprs is `ip saddr <subnet> ip daddr != <subnet> counter masquerade`.
func masqueradeExprs(p Plan) []expr.Any {
	subnet := p.Subnet.Masked().Addr().As4()
	mask := net.CIDRMask(p.Subnet.Bits(), 32)
	matchNet := func(offset uint32, op expr.CmpOp) []expr.Any {
		return []expr.Any{
			&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: offset, Len: 4},
			&expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)},
			&expr.Cmp{Op: op, Register: 1, Data: subnet[:]},
		}
	}
	out := matchNet(12, expr.CmpOpEq)                 // source address
	out = append(out, matchNet(16, expr.CmpOpNeq)...) // destination address
	return append(out, &expr.Counter{}, &expr.Masq{})
}

// acceptIfname is `iifname|oifname <name> counter accept`.
func acceptIfname(key expr.MetaKey, name string) []expr.Any {
	return []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: ifname(name)},
		&expr.Counter{},
		&expr.Verdict{Kind: expr.VerdictAccept},
	}
}

// ifname pads an interface name as the kernel compares it (IFNAMSIZ bytes).
func ifname(name string) []byte {
	b := make([]byte, unix.IFNAMSIZ)
	copy(b, name)
	return b
}

// deleteTable removes the lab's table if it exists, in one transaction.
func deleteTable(c *nftables.Conn, name string) error {
	t := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: name}
	c.AddTable(t)
	c.DelTable(t)
	if err := c.Flush(); err != nil {
		return fmt.Errorf("delete nftables table %s: %w", name, err)
	}
	return nil
}

// labTables lists the names of every cozylab table (family ip) in the namespace, sorted.
func labTables(c *nftables.Conn) ([]string, error) {
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyIPv4)
	if err != nil {
		return nil, fmt.Errorf("list nftables tables: %w", err)
	}
	var names []string
	for _, t := range tables {
		if strings.HasPrefix(t.Name, TablePrefix) {
			names = append(names, t.Name)
		}
	}
	slices.Sort(names)
	return names, nil
}
