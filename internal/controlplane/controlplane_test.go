package controlplane

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

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

// TestAPIServerStartsOnceEtcdServes: kube-apiserver gives up on an etcd that has not answered
// within its storage timeout, so it is started only once etcd's /health answers. An etcd that
// never serves ends the start naming etcd, without kube-apiserver ever having run; one that
// exits ends it at once with its log.
func TestAPIServerStartsOnceEtcdServes(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "apiserver-ran")
	script := func(name, body string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("#!/bin/sh\n"+body+"\n"), 0o755))
		return p
	}
	apiserver := script("kube-apiserver", "touch "+marker+"; exec sleep 600")

	silent := script("etcd-silent", "exec sleep 600")
	_, err := Start(context.Background(), Options{Etcd: silent, APIServer: apiserver, Root: filepath.Join(dir, "a"), ReadyTimeout: time.Second})
	require.ErrorContains(t, err, "etcd /health")
	assert.NoFileExists(t, marker, "kube-apiserver must not start before etcd serves")

	dead := script("etcd-dead", "echo 'etcd: cannot open the data directory' >&2; exit 3")
	_, err = Start(context.Background(), Options{Etcd: dead, APIServer: apiserver, Root: filepath.Join(dir, "b"), ReadyTimeout: time.Hour})
	require.ErrorContains(t, err, "cannot open the data directory")
	assert.NoFileExists(t, marker)
}
