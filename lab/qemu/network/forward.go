package network

import (
	"fmt"
	"os"
	"strings"
)

// ipForwardPath is per network namespace: /proc/sys/net follows the namespace of the thread
// that opens it.
const ipForwardPath = "/proc/sys/net/ipv4/ip_forward"

// HostChanges records what Up changed on the host beyond the lab's own objects, so Down can
// undo it. Keep it with the plan (it is JSON) and merge the results of re-runs with Merge.
type HostChanges struct {
	// EnabledForwarding is true when Up switched IPv4 forwarding on.
	EnabledForwarding bool `json:"enabledForwarding,omitempty"`
}

// Merge combines the changes of two Up runs of the same lab: a re-run finds forwarding already
// on, but the first run's change still has to be undone.
func (c HostChanges) Merge(o HostChanges) HostChanges {
	return HostChanges{EnabledForwarding: c.EnabledForwarding || o.EnabledForwarding}
}

// Forwarding reports whether IPv4 forwarding is on in the calling thread's namespace.
func Forwarding() (bool, error) {
	raw, err := os.ReadFile(ipForwardPath)
	if err != nil {
		return false, fmt.Errorf("read %s: %w", ipForwardPath, err)
	}
	return strings.TrimSpace(string(raw)) != "0", nil
}

// enableForwarding switches forwarding on; it reports whether it was off.
func enableForwarding() (bool, error) {
	on, err := Forwarding()
	if err != nil || on {
		return false, err
	}
	return true, writeForwarding("1")
}

func writeForwarding(v string) error {
	if err := os.WriteFile(ipForwardPath, []byte(v+"\n"), 0o644); err != nil {
		return fmt.Errorf("write %s to %s (needs root): %w", v, ipForwardPath, err)
	}
	return nil
}
