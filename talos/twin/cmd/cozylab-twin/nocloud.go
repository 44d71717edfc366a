package main

import (
	"fmt"
	"strings"

	"github.com/cozylab/cozylab/talos/nocloud"
)

// resolvConf renders /etc/resolv.conf for the nameservers of every interface.
func resolvConf(ifaces []nocloud.Interface) []byte {
	var b strings.Builder

	for _, iface := range ifaces {
		for _, ns := range iface.Nameservers {
			fmt.Fprintf(&b, "nameserver %s\n", ns)
		}
	}

	return []byte(b.String())
}
