//go:build integration

package realnode

import (
	"crypto/tls"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/require"
)

func mustAddr(t *testing.T, s string) netip.Addr {
	t.Helper()
	a, err := netip.ParseAddr(s)
	require.NoError(t, err)
	return a
}

// insecureTLS skips verification: the test only asks whether the kubelet lets an anonymous
// client in, not who the kubelet is.
func insecureTLS() *tls.Config { return &tls.Config{InsecureSkipVerify: true} } //nolint:gosec
