package controlplane

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestStartRejectsBadInput(t *testing.T) {
	ctx := context.Background()
	_, err := Start(ctx, Options{APIServer: "/x", Root: t.TempDir()})
	require.ErrorContains(t, err, "no etcd binary given (get one from the binaries cache: go run mage.go bins)")
	_, err = Start(ctx, Options{Etcd: "/x", APIServer: "/y", ServiceCIDR: "10.96.0.0", Root: t.TempDir()})
	require.ErrorContains(t, err, `service CIDR "10.96.0.0": want an IPv4 CIDR such as 10.96.0.0/16`)
}

func TestFirstServiceIP(t *testing.T) {
	ip, err := firstServiceIP("10.96.0.0/16")
	require.NoError(t, err)
	assert.Equal(t, "10.96.0.1", ip.String())
}

func TestFailingChecks(t *testing.T) {
	body := "[+]ping ok\n[-]etcd failed: reason withheld\n[+]log ok\n[-]poststarthook/rbac/bootstrap-roles failed: reason withheld\nreadyz check failed\n"
	assert.Equal(t, "etcd, poststarthook/rbac/bootstrap-roles", failingChecks(body))
}

func TestFreePortsAreDistinct(t *testing.T) {
	ps, err := freePorts(3)
	require.NoError(t, err)
	assert.Len(t, ps, 3)
	assert.NotEqual(t, ps[0], ps[1])
	assert.NotEqual(t, ps[1], ps[2])
	assert.NotEqual(t, ps[0], ps[2])
}
