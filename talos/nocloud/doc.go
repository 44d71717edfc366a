// Package nocloud is the NoCloud seed a lab node boots with, as Talos' nocloud platform reads it:
// the documents, how a node's description renders into the seed's three files, and the parser
// the twin agent (talos/twin) reads them back with. Writing them onto media is not its business:
// lab/qemu/seed puts the rendered files on an ISO 9660 volume labelled VolumeLabel, and the twin
// finds that volume itself; both sides share these types so the writer and the reader cannot
// drift apart.
//
// meta-data is YAML naming the instance and its hostname:
//
//	instance-id: lab1-node-1
//	local-hostname: node-1
//	hostname: node-1
//
// network-config is netplan-like version 2 with one ethernet named eth0, matched by the MAC
// address QEMU gives the NIC, with a static address in CIDR form, an IPv4 gateway and
// nameservers (gateway4 and nameservers are left out when empty; the top level is bare, with no
// "network:" wrapper):
//
//	ethernets:
//	  eth0:
//	    addresses:
//	    - 10.5.0.2/24
//	    gateway4: 10.5.0.1
//	    match:
//	      macaddress: "52:54:00:12:34:56"
//	    nameservers:
//	      addresses:
//	      - 10.5.0.1
//	    set-name: eth0
//	version: 2
//
// That is only how Render lays it out. Parse accepts any key order and YAML style, the
// "network:" wrapper, ethernets matched by name (or named by their key) and a default route
// under routes instead of gateway4, and ignores keys it has no use for, as Talos does. It
// refuses version 1 and anything it cannot turn into an address, saying which key was wrong.
//
// user-data is the node's Talos machine config, byte for byte (multi-document YAML). Talos
// applies it at boot, so no insecure ApplyConfiguration is needed.
package nocloud
