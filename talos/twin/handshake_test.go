package twin_test

import (
	"crypto/tls"
	"encoding/base64"
	"testing"
	"time"

	clientconfig "github.com/siderolabs/talos/pkg/machinery/client/config"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/talos/twin"
)

// clientCertificate is the admin certificate of a talosconfig.
func clientCertificate(t *testing.T, tc *clientconfig.Config) tls.Certificate {
	t.Helper()

	ctx := tc.Contexts[tc.Context]
	crt, err := base64.StdEncoding.DecodeString(ctx.Crt)
	require.NoError(t, err)
	key, err := base64.StdEncoding.DecodeString(ctx.Key)
	require.NoError(t, err)
	pair, err := tls.X509KeyPair(crt, key)
	require.NoError(t, err)

	return pair
}

// TestServerHandshakeAlerts reads the twin's TLS alerts directly: with TLS 1.3 a client sees the
// server's verdict on its certificate only on its first read, which the gRPC client may not get
// to, so this pins down which check refused it.
func TestServerHandshakeAlerts(t *testing.T) {
	cl := newCluster(t)
	other := newCluster(t)
	_, addr := startTwin(t, twin.NewMemoryNode("cp-1"), cl.Config)

	for _, tc := range []struct {
		name  string
		certs []tls.Certificate
		want  string
	}{
		{name: "no client certificate", want: "remote error: tls: certificate required"},
		{name: "certificate from another CA", certs: []tls.Certificate{clientCertificate(t, other.Talosconfig)}, want: "remote error: tls: unknown certificate authority"},
		{name: "certificate from the cluster CA", certs: []tls.Certificate{clientCertificate(t, cl.Talosconfig)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conn, err := tls.Dial("tcp", addr, &tls.Config{
				InsecureSkipVerify: true, //nolint:gosec // only the server's check of the client is under test
				Certificates:       tc.certs,
				NextProtos:         []string{"h2"},
			})
			require.NoError(t, err)
			t.Cleanup(func() { require.NoError(t, conn.Close()) })

			// A healthy HTTP/2 server sends its SETTINGS frame first, so the read returns data.
			require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second)))
			_, err = conn.Read(make([]byte, 64))

			if tc.want == "" {
				require.NoError(t, err)

				return
			}

			require.Error(t, err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}
