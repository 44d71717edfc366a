package vm

import (
	"crypto/sha256"
	"net"
)

// MAC returns a stable Ethernet address for node in lab: the same pair always gives the same
// address, so a restarted node keeps its network-config match and its DHCP-free identity. The
// address is unicast and locally administered (first octet xxxxxx10), so it never collides with
// a vendor address.
func MAC(lab, node string) net.HardwareAddr {
	sum := sha256.Sum256([]byte("cozylab-mac\x00" + lab + "\x00" + node))
	mac := net.HardwareAddr(sum[:6])
	mac[0] = mac[0]&^0x01 | 0x02
	return mac
}
