package machineconfig_test

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config/config"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/cozylab/cozylab/talos/machineconfig"
)

func TestGenerateGolden(t *testing.T) {
	res, err := machineconfig.Generate(labOptions(t), fixedSecrets(t))
	require.NoError(t, err)
	require.Len(t, res.Nodes, 3)

	for _, n := range res.Nodes {
		t.Run(n.Name, func(t *testing.T) {
			assertGolden(t, n.Name, n.Config)
		})
	}
}

func TestGenerateIsDeterministic(t *testing.T) {
	bundle := fixedSecrets(t)

	a, err := machineconfig.Generate(labOptions(t), bundle)
	require.NoError(t, err)
	b, err := machineconfig.Generate(labOptions(t), bundle)
	require.NoError(t, err)

	for i := range a.Nodes {
		assert.Equal(t, string(a.Nodes[i].Config), string(b.Nodes[i].Config), a.Nodes[i].Name)
	}
}

func TestGenerateNodeDocuments(t *testing.T) {
	res, err := machineconfig.Generate(labOptions(t), fixedSecrets(t))
	require.NoError(t, err)

	n := res.Nodes[1]
	assert.Equal(t, "cp-2", n.Name)
	assert.Equal(t, netip.MustParseAddr("10.5.0.12"), n.Address)

	cfg, err := configloader.NewFromBytes(n.Config)
	require.NoError(t, err)

	assert.Equal(t, "cp-2", cfg.NetworkHostnameConfig().Hostname())
	assert.Equal(t, "https://10.5.0.10:6443", cfg.Cluster().Endpoint().String())
	assert.Equal(t, "none", cfg.Cluster().Network().CNI().Name(), "lab patch applied")

	var vips []config.NetworkLayer2VIPConfig

	for _, doc := range cfg.Documents() {
		if vip, ok := doc.(config.NetworkLayer2VIPConfig); ok {
			vips = append(vips, vip)
		}
	}

	require.Len(t, vips, 1)
	assert.Equal(t, "10.5.0.10", vips[0].VIP().String())
	assert.Equal(t, machineconfig.LabLinkAlias, vips[0].Link())

	aliases := cfg.NetworkLinkAliasConfigs()
	require.Len(t, aliases, 1)
	assert.Contains(t, aliases[0].LinkSelector().String(), "52:54:00:00:05:12")
}

func TestGenerateTalosconfig(t *testing.T) {
	res, err := machineconfig.Generate(labOptions(t), fixedSecrets(t))
	require.NoError(t, err)

	ctx := res.Talosconfig.Contexts[res.Talosconfig.Context]
	require.NotNil(t, ctx)
	assert.Equal(t, "cozylab", res.Talosconfig.Context)
	assert.Equal(t, []string{"10.5.0.11", "10.5.0.12", "10.5.0.13"}, ctx.Endpoints)
	assert.NotEmpty(t, ctx.Crt)
	assert.NotEmpty(t, ctx.Key)
}

func TestGeneratePatches(t *testing.T) {
	for _, tc := range []struct {
		name    string
		patch   string
		wantErr string
		check   func(t *testing.T, cfg []byte)
	}{
		{
			name:    "JSON6902 patch is rejected",
			patch:   "- op: add\n  path: /machine/network/hostname\n  value: x\n",
			wantErr: "load patch 0: it is a JSON6902 patch",
		},
		{
			name: "patch adds a document",
			patch: `apiVersion: v1alpha1
kind: ResolverConfig
nameservers:
  - address: 10.5.0.1
`,
			check: func(t *testing.T, data []byte) {
				cfg, err := configloader.NewFromBytes(data)
				require.NoError(t, err)
				require.NotNil(t, cfg.NetworkResolverConfig())
				assert.Equal(t, "10.5.0.1", cfg.NetworkResolverConfig().Resolvers()[0].String())
			},
		},
		{
			name:    "invalid result names the node and the problem",
			patch:   "machine:\n  type: worker\n",
			wantErr: "generate config for node cp-1: validate config:",
		},
		{
			name:    "unparsable patch names the patch",
			patch:   "machine: [unterminated\n",
			wantErr: "load patch 0:",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := labOptions(t)
			o.Patches = [][]byte{[]byte(tc.patch)}

			res, err := machineconfig.Generate(o, fixedSecrets(t))
			if tc.wantErr != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.wantErr)

				return
			}

			require.NoError(t, err)
			tc.check(t, res.Nodes[0].Config)
		})
	}
}

func TestGenerateRejectsBadOptions(t *testing.T) {
	o := labOptions(t)
	o.ClusterName = ""
	o.Nodes[1].Name = "cp-1"
	o.Nodes[2].Address = netip.PrefixFrom(o.VIP, 24)

	_, err := machineconfig.Generate(o, fixedSecrets(t))
	require.Error(t, err)

	for _, want := range []string{"cluster name is empty", `node name "cp-1" is used twice`, `node "cp-3" uses the VIP`} {
		assert.True(t, strings.Contains(err.Error(), want), "error %q lacks %q", err, want)
	}
}

func TestGenerateDefaults(t *testing.T) {
	o := labOptions(t)
	o.InstallImage = ""

	res, err := machineconfig.Generate(o, fixedSecrets(t))
	require.NoError(t, err)

	cfg, err := configloader.NewFromBytes(res.Nodes[0].Config)
	require.NoError(t, err)
	assert.Empty(t, cfg.Machine().Install().Image(), "no installer image is invented")
	assert.Equal(t, machineconfig.DefaultInstallDisk, cfg.Machine().Install().Disk())
	assert.Equal(t, "ghcr.io/siderolabs/kubelet:v"+machineconfig.DefaultKubernetesVersion, cfg.Machine().Kubelet().Image())
}
