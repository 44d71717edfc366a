// Package network owns a lab's host network: one Linux bridge with its own /24, one tap per
// node attached to it, IPv4 forwarding, and an nftables table of the lab's own that masquerades
// the subnet. It knows nothing about QEMU; a VM provider hands the tap names to whatever it runs.
//
// Everything is derived from the lab name, so teardown works from the state file alone (or from
// the name alone when the state is lost):
//
//	bridge   czl-<short>          short = the lab name when it is 1-7 of [a-z0-9],
//	taps     czl-<short>-<i>      otherwise 8 hex digits of its SHA-256 (the two never collide,
//	table    ip cozylab-<lab>     they differ in length), so every name fits IFNAMSIZ (15)
//
// The address plan follows the upstream Cozystack lab (192.168.123.0/24 there): gateway .1 on
// the bridge, the control-plane VIP .10, node i (1-based) at .10+i — srv1 .11, srv2 .12,
// srv3 .13 — and .200-.250 left free for a MetalLB pool. Each lab takes the first /24 of
// 10.213.0.0/16 that overlaps no address or route on the host (ChooseSubnet), so several labs run
// side by side.
//
// All calls act on the network namespace of the calling OS thread; tests lock a thread into a
// namespace of their own.
//
// The nftables table has a nat postrouting chain (masquerade saddr subnet, daddr not subnet) and
// a forward filter chain accepting traffic from and to the bridge. An accept verdict ends only
// its own base chain: a drop in another table on the same hook (for example Docker's iptables
// FORWARD policy DROP) still drops lab traffic, and this package never edits other tables. On
// such a host, allow the bridge in that firewall (for Docker: a DOCKER-USER rule).
//
// IPv4 forwarding is per network namespace and host-wide within it. Up switches it on when it is
// off and says so in HostChanges; Down switches it back off only when that lab's Up switched it
// on and no other cozylab-* table remains, so one lab going down never cuts another lab off.
// A lab that found forwarding already on never turns it off.
package network
