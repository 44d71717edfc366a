package config

import (
	"bytes"
	"errors"
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDefaultsAreUpstreams(t *testing.T) {
	c, err := Parse(nil, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, ":8080", c.MetricsAddr)
	assert.Equal(t, ":8081", c.ProbeAddr)
	assert.Equal(t, 5*time.Minute, c.HelmRelease.Interval)
	assert.Equal(t, 30*time.Second, c.HelmRelease.RetryInterval)
	assert.Equal(t, 10*time.Minute, c.HelmRelease.InstallTimeout)
	assert.Equal(t, 5, c.HelmRelease.MaxHistory)
	assert.Equal(t, 0, c.HelmRelease.MaxRetries)
	assert.Equal(t, "cozystack-platform", c.PlatformSource.Name)
	assert.Empty(t, c.PlatformSource.URL)
	assert.Equal(t, "cozystack.io/system=true", c.ValuesNamespaces.String())
	assert.Equal(t, Leases{Duration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second}, c.Leases, "controller-runtime's")
}

func TestLeaseFlags(t *testing.T) {
	c, err := Parse([]string{"--leader-elect", "--leader-elect-lease-duration=60s", "--leader-elect-renew-deadline=40s", "--leader-elect-retry-period=10s"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.Equal(t, Leases{Duration: time.Minute, RenewDeadline: 40 * time.Second, RetryPeriod: 10 * time.Second}, c.Leases)
}

func TestPlatformFlags(t *testing.T) {
	c, err := Parse([]string{"--platform-source-url", " oci://127.0.0.1:5000/packages ", "--platform-source-ref", "tag=v1,digest=sha256:ab", "--install-crds", "--platform-source-insecure"}, &bytes.Buffer{})
	require.NoError(t, err)
	assert.True(t, c.PlatformSource.Insecure)
	assert.Equal(t, "OCIRepository", c.PlatformKind)
	assert.Equal(t, "oci://127.0.0.1:5000/packages", c.PlatformSource.URL)
	assert.Equal(t, map[string]string{"tag": "v1", "digest": "sha256:ab"}, c.PlatformSource.Ref)
	assert.True(t, c.InstallCRDs)
}

func TestBadValuesNameTheFlag(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--helmrelease-interval=0s"}, `--helmrelease-interval="0s": want a positive duration`},
		{[]string{"--helmrelease-retry-interval=soon"}, `--helmrelease-retry-interval="soon": want a duration such as 30s, 5m or 1h`},
		{[]string{"--flux-requeue-dependency=0s"}, `--flux-requeue-dependency`},
		{[]string{"--helmrelease-install-timeout=-1m"}, "--helmrelease-install-timeout"},
		{[]string{"--helmrelease-upgrade-timeout=x"}, "--helmrelease-upgrade-timeout"},
		{[]string{"--telemetry-interval=0"}, "--telemetry-interval"},
		{[]string{"--helmrelease-max-history=-1"}, "--helmrelease-max-history=-1: want 0 (unlimited) or more"},
		{[]string{"--helmrelease-max-retries=-2"}, "--helmrelease-max-retries=-2"},
		{[]string{"--cozy-values-namespace-selector=a b c"}, "--cozy-values-namespace-selector"},
		{[]string{"--platform-source-url=ftp://x"}, `--platform-source-url "ftp://x": unsupported scheme`},
		{[]string{"--platform-source-url=oci://x", "--platform-source-ref=branch=main"}, `unknown key "branch" for an OCIRepository`},
		{[]string{"--platform-source-ref=tag=v1"}, "--platform-source-ref needs --platform-source-url"},
		{[]string{"--platform-source-name="}, "--platform-source-name is empty"},
		{[]string{"--platform-source-url=https://git/x", "--platform-source-insecure"}, "--platform-source-insecure applies only to an oci://"},
		{[]string{"--leader-elect-lease-duration=0s"}, `--leader-elect-lease-duration="0s": want a positive duration`},
		{[]string{"--leader-elect-renew-deadline=15s"}, "--leader-elect-renew-deadline=15s must be less than --leader-elect-lease-duration=15s"},
		{[]string{"--leader-elect-retry-period=9s"}, "--leader-elect-renew-deadline=10s must be more than 1.2 × --leader-elect-retry-period=9s"},
		{[]string{"--no-such-flag"}, "flag provided but not defined: -no-such-flag"},
		{[]string{"--leader-elect=maybe"}, `invalid boolean value "maybe" for -leader-elect`},
		{[]string{"stray"}, `unexpected argument "stray"`},
	} {
		_, err := Parse(tt.args, &bytes.Buffer{})
		require.Error(t, err, tt.args)
		assert.Contains(t, err.Error(), tt.want, tt.args)
	}
}

func TestHelpDescribesEveryFlag(t *testing.T) {
	var out bytes.Buffer
	_, err := Parse([]string{"--help"}, &out)
	require.True(t, errors.Is(err, flag.ErrHelp))
	for _, f := range []string{"install-crds", "install-flux", "platform-source-url", "platform-source-ref", "platform-source-name",
		"platform-source-secret", "platform-source-insecure", "helmrelease-interval", "helmrelease-max-history", "helmrelease-max-retries", "leader-elect",
		"metrics-bind-address", "health-probe-bind-address", "cozy-values-namespace-selector", "zap-log-level"} {
		assert.Contains(t, out.String(), "-"+f, f)
	}
}
