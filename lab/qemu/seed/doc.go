// Package seed writes and reads the NoCloud seed a lab node boots with: an ISO 9660 image
// labelled "cidata" holding three files at its root. Talos' nocloud platform, and the twin agent
// in talos/twin (which cannot import this package and parses the files itself), find the volume
// by its label and read them.
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
// A reader must accept any key order and YAML style; this is only how Write lays it out.
//
// user-data is the node's Talos machine config, byte for byte (multi-document YAML). Talos
// applies it at boot, so no insecure ApplyConfiguration is needed.
//
// The image is plain ISO 9660 without Rock Ridge or Joliet: the file identifiers are
// "meta-data;1", "network-config;1" and "user-data;1" (lower case; '-' is a d1-character). Linux
// isofs (default map=normal) shows them as meta-data, network-config and user-data. The volume
// identifier is "cidata" in lower case, as genisoimage -volid cidata writes it.
package seed
