package talos_test

import (
	"testing"

	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	"github.com/siderolabs/talos/pkg/machinery/config/generate"
	"github.com/siderolabs/talos/pkg/machinery/config/machine"
	"github.com/siderolabs/talos/pkg/machinery/config/merge"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/packages/internal/charttest"
)

// patches renders the chart and returns each patch's YAML by role label.
func patches(t *testing.T, values map[string]any) map[string]string {
	t.Helper()
	objs, err := charttest.Render(".", charttest.Options{ReleaseName: "talos", Namespace: "cozy-system", Values: values})
	require.NoError(t, err)
	out := map[string]string{}
	for _, o := range objs {
		require.Equal(t, "ConfigMap", o.GetKind(), "the chart renders patch ConfigMaps only")
		role := o.GetLabels()["talos.cozylab.io/patch-role"]
		require.NotEmpty(t, role, "%s has no role label", o.GetName())
		data, _, _ := unstructuredString(o.Object, "data", "patch.yaml")
		out[role] = data
	}
	require.Len(t, out, 2)
	return out
}

func unstructuredString(obj map[string]any, fields ...string) (string, bool, error) {
	var cur any = obj
	for _, f := range fields {
		m, ok := cur.(map[string]any)
		if !ok {
			return "", false, nil
		}
		cur = m[f]
	}
	s, ok := cur.(string)
	return s, ok, nil
}

// at walks a parsed patch by keys and list indexes.
func at(t *testing.T, doc map[string]any, path ...any) any {
	t.Helper()
	var cur any = doc
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			require.True(t, ok, "%v: not a map at %q", path, k)
			cur, ok = m[k]
			require.True(t, ok, "%v: no key %q", path, k)
		case int:
			l, ok := cur.([]any)
			require.True(t, ok && k < len(l), "%v: no item %d", path, k)
			cur = l[k]
		}
	}
	return cur
}

func parse(t *testing.T, s string) map[string]any {
	t.Helper()
	var doc map[string]any
	require.NoError(t, yaml.Unmarshal([]byte(s), &doc))
	return doc
}

func TestPatchesHoldTheLabSettings(t *testing.T) {
	p := patches(t, nil)
	all := parse(t, p["all"])
	assert.Equal(t, []any{"192.168.123.0/24"}, at(t, all, "machine", "kubelet", "nodeIP", "validSubnets"))
	assert.EqualValues(t, 512, at(t, all, "machine", "kubelet", "extraConfig", "maxPods"))
	assert.Equal(t, "drbd", at(t, all, "machine", "kernel", "modules", 1, "name"))
	assert.Equal(t, []any{"usermode_helper=disabled"}, at(t, all, "machine", "kernel", "modules", 1, "parameters"))
	assert.Equal(t, []any{"https://mirror.gcr.io"}, at(t, all, "machine", "registries", "mirrors", "docker.io", "endpoints"))
	assert.Equal(t, "/etc/cri/conf.d/20-customization.part", at(t, all, "machine", "files", 0, "path"))
	assert.Contains(t, at(t, all, "machine", "files", 0, "content"), "device_ownership_from_security_context = true")
	assert.Equal(t, "none", at(t, all, "cluster", "network", "cni", "name"))
	assert.Equal(t, "cozy.local", at(t, all, "cluster", "network", "dnsDomain"))
	assert.Equal(t, []any{"100.65.0.0/16"}, at(t, all, "cluster", "network", "podSubnets"))
	assert.Equal(t, []any{"10.96.0.0/16"}, at(t, all, "cluster", "network", "serviceSubnets"))

	cp := parse(t, p["controlplane"])
	assert.Equal(t, "192.168.123.10", at(t, cp, "machine", "network", "interfaces", 0, "vip", "ip"))
	assert.Equal(t, "eth0", at(t, cp, "machine", "network", "interfaces", 0, "interface"))
	assert.Equal(t, true, at(t, cp, "cluster", "allowSchedulingOnControlPlanes"))
	assert.Equal(t, true, at(t, cp, "cluster", "proxy", "disabled"))
	assert.Equal(t, false, at(t, cp, "cluster", "discovery", "enabled"))
	assert.Equal(t, []any{"192.168.123.0/24"}, at(t, cp, "cluster", "etcd", "advertisedSubnets"))
}

func TestPatchesFollowValues(t *testing.T) {
	p := patches(t, map[string]any{
		"nodeSubnet":      "10.5.0.0/24",
		"cluster":         map[string]any{"dnsDomain": "lab.test", "podSubnets": []any{"10.244.0.0/16"}, "serviceSubnets": []any{"10.97.0.0/16"}},
		"kernelModules":   []any{},
		"registryMirrors": nil, // null removes a default map key in Helm
		"lvm":             map[string]any{"enabled": false},
		"cri":             map[string]any{"deviceOwnershipFromSecurityContext": false},
		"apiServer":       map[string]any{"oidc": map[string]any{"enabled": false}},
		"controlPlane":    map[string]any{"vip": "", "disableProxy": false, "disableDiscovery": false},
	})
	all := parse(t, p["all"])
	assert.Equal(t, []any{"10.5.0.0/24"}, at(t, all, "machine", "kubelet", "nodeIP", "validSubnets"))
	assert.Equal(t, "lab.test", at(t, all, "cluster", "network", "dnsDomain"))
	machineCfg := at(t, all, "machine").(map[string]any)
	for _, k := range []string{"kernel", "registries", "files"} {
		assert.NotContains(t, machineCfg, k)
	}
	assert.NotContains(t, at(t, all, "cluster"), "apiServer")
	cp := parse(t, p["controlplane"])
	assert.NotContains(t, at(t, cp, "machine"), "network", "no VIP, no interface patch")
	assert.Equal(t, false, at(t, cp, "cluster", "proxy", "disabled"))
	assert.Equal(t, true, at(t, cp, "cluster", "discovery", "enabled"))
}

// TestPatchesApplyToATalosConfig loads the patches with Talos' own loader (strict: an unknown
// field is an error) and merges them into a generated config of each machine type, as the lab
// does: the cluster patch into every node's, the control-plane patch into control planes'. The
// result must pass Talos' validation for a metal node.
func TestPatchesApplyToATalosConfig(t *testing.T) {
	p := patches(t, nil)
	in, err := generate.NewInput("lab", "https://192.168.123.10:6443", "v1.35.4", generate.WithInstallDisk("/dev/vda"))
	require.NoError(t, err)
	for _, typ := range []machine.Type{machine.TypeControlPlane, machine.TypeWorker} {
		t.Run(typ.String(), func(t *testing.T) {
			cfg, err := in.Config(typ)
			require.NoError(t, err)
			c := cfg.RawV1Alpha1()
			roles := []string{"all"}
			if typ == machine.TypeControlPlane {
				roles = append(roles, "controlplane")
			}
			for _, role := range roles {
				patch, err := configloader.NewFromBytes([]byte(p[role]), configloader.WithAllowPatchDelete())
				require.NoError(t, err, "%s patch", role)
				require.NotNil(t, patch.RawV1Alpha1(), "%s patch is a v1alpha1 machine config patch", role)
				require.NoError(t, merge.Merge(c, patch.RawV1Alpha1()), "%s patch", role)
			}
			_, err = cfg.Validate(metal{})
			require.NoError(t, err)
			assert.Equal(t, "cozy.local", c.ClusterConfig.ClusterNetwork.DNSDomain)
			assert.Equal(t, "none", c.ClusterConfig.ClusterNetwork.CNI.CNIName)
			assert.Equal(t, []string{"192.168.123.0/24"}, c.MachineConfig.MachineKubelet.KubeletNodeIP.KubeletNodeIPValidSubnets)
			if typ == machine.TypeControlPlane {
				assert.True(t, *c.ClusterConfig.ProxyConfig.Disabled)
				assert.Equal(t, []string{"192.168.123.0/24"}, c.ClusterConfig.EtcdConfig.EtcdAdvertisedSubnets)
			}
		})
	}
}

// metal is the validation mode of a node installed to disk (the lab's VMs).
type metal struct{}

func (metal) String() string        { return "metal" }
func (metal) RequiresInstall() bool { return true }
func (metal) InContainer() bool     { return false }
