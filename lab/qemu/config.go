package qemu

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	corev1 "k8s.io/api/core/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/lab/images"
	"github.com/cozylab/cozylab/lab/qemu/network"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/packages"
	"github.com/cozylab/cozylab/talos/machineconfig"
)

// talosChart is the chart of the lab's Talos patches in packages.FS.
const talosChart = "core/talos"

// patchRoleLabel tells the chart's patch ConfigMaps apart; patchKey holds the patch.
const (
	patchRoleLabel = "talos.cozylab.io/patch-role"
	patchKey       = "patch.yaml"
)

// ConfigOptions derives the Talos config generation options of a lab from its network plan:
// one control-plane node per planned node, named srv<i>, at its planned address, identified by
// the MAC its VM gets, and the cluster endpoint on the plan's VIP.
func ConfigOptions(plan network.Plan, patches [][]byte) machineconfig.Options {
	o := machineconfig.Options{ClusterName: plan.Lab, VIP: plan.VIP, Patches: patches}
	for i, name := range NodeNames(len(plan.Nodes)) {
		o.Nodes = append(o.Nodes, machineconfig.Node{Name: name, Address: nodeAddress(plan, i), MAC: vm.MAC(plan.Lab, name)})
	}
	return o
}

// PatchValues are the values the lab renders the Talos patch chart with: the lab's own subnet
// and VIP in the certificate SANs. The chart's VIP stays off: machineconfig binds the VIP to
// the lab link by MAC itself. OIDC stays off: the lab has no identity provider. kube-proxy is
// on: the lab's nodes are their own host-gateway CNI, with nothing to replace it (the chart
// turns it off for a CNI that does); the three control planes are the only nodes, so they
// take workloads. The chart's Docker Hub mirror (mirror.gcr.io) is dropped: no pull leaves
// the lab (RegistryMirrors sends every mirrored host to the lab registry).
func PatchValues(plan network.Plan) map[string]any {
	return map[string]any{
		"nodeSubnet": plan.Subnet.String(),
		"apiServer": map[string]any{
			"certSANs": []any{plan.VIP.String(), "127.0.0.1"},
			"oidc":     map[string]any{"enabled": false},
		},
		"controlPlane": map[string]any{
			"vip":                            "",
			"disableProxy":                   false,
			"allowSchedulingOnControlPlanes": true,
		},
		// null drops a default map entry of the chart (its README).
		"registryMirrors": map[string]any{"docker.io": nil},
	}
}

// mirroredHosts are the upstream registries the nodes pull through the lab registry: those of
// the images the lab builds (images.Hosts), and Docker Hub, so that an image the lab does not
// have fails in the lab, naming itself, instead of trying the internet.
func mirroredHosts() []string {
	hosts := images.Hosts()
	if !slices.Contains(hosts, "docker.io") {
		hosts = append(hosts, "docker.io")
	}
	slices.Sort(hosts)
	return hosts
}

// RegistryMirrors send every mirrored host's pulls to the lab registry on the bridge
// (clusterRegistry, host:port, plain HTTP), where the images are pushed under their upstream
// names (lab/registry's mirror layout). With skipFallback (the twin: its lab has every image it
// runs) a miss fails in the lab; a real Talos node falls back to the upstream host, for the
// images Talos itself runs (its control plane's, CoreDNS, kube-proxy), which the lab does not
// build.
func RegistryMirrors(clusterRegistry string, skipFallback bool) []machineconfig.RegistryMirror {
	var out []machineconfig.RegistryMirror
	for _, h := range mirroredHosts() {
		out = append(out, machineconfig.RegistryMirror{Host: h, Endpoints: []string{"http://" + clusterRegistry}, SkipFallback: skipFallback})
	}
	return out
}

// EmulationPatch is the config patch of nodes that run under TCG, where a busy guest answers
// in seconds: etcd's heartbeats and elections, and the controller manager's and scheduler's
// leases, get several times their defaults, so a slow moment is not taken for a dead leader
// (a new etcd election stalls every write; a controller manager that misses its renewal exits
// and starts over, which costs a TCG guest minutes). The controller manager's controllers act as
// the manager itself rather than each as its service account: asking for ~40 tokens made its
// start take minutes there.
const EmulationPatch = `cluster:
  etcd:
    extraArgs:
      heartbeat-interval: "500"
      election-timeout: "5000"
  controllerManager:
    extraArgs:
      use-service-account-credentials: "false"
      leader-elect-lease-duration: 60s
      leader-elect-renew-deadline: 40s
      leader-elect-retry-period: 10s
  scheduler:
    extraArgs:
      leader-elect-lease-duration: 60s
      leader-elect-renew-deadline: 40s
      leader-elect-retry-period: 10s
`

// LabPatches renders packages/core/talos with values and returns its strategic-merge patches in
// the order they apply: the cluster patch, then the control-plane patch.
func LabPatches(values map[string]any) ([][]byte, error) {
	sub, err := fs.Sub(packages.FS, talosChart)
	if err != nil {
		return nil, fmt.Errorf("open chart %s: %w", talosChart, err)
	}
	var files []*loader.BufferedFile
	err = fs.WalkDir(sub, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := fs.ReadFile(sub, p)
		files = append(files, &loader.BufferedFile{Name: path.Clean(p), Data: data})
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read chart %s: %w", talosChart, err)
	}
	ch, err := loader.LoadFiles(files)
	if err != nil {
		return nil, fmt.Errorf("load chart %s: %w", talosChart, err)
	}
	vals, err := chartutil.ToRenderValues(ch, values, chartutil.ReleaseOptions{Name: "talos", Namespace: "cozy-system", IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", talosChart, err)
	}
	out, err := engine.Render(ch, vals)
	if err != nil {
		return nil, fmt.Errorf("render chart %s: %w", talosChart, err)
	}
	byRole := map[string][]byte{}
	for name, manifest := range out {
		if !strings.HasSuffix(name, ".yaml") {
			continue
		}
		if err := collectPatches(manifest, byRole); err != nil {
			return nil, fmt.Errorf("render chart %s: %s: %w", talosChart, name, err)
		}
	}
	var patches [][]byte
	for _, role := range []string{"all", "controlplane"} {
		p, ok := byRole[role]
		if !ok {
			return nil, fmt.Errorf("render chart %s: no patch with role %q", talosChart, role)
		}
		patches = append(patches, p)
	}
	return patches, nil
}

// collectPatches adds the patch of every ConfigMap in manifest to byRole.
func collectPatches(manifest string, byRole map[string][]byte) error {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return err
		}
		if strings.TrimSpace(string(doc)) == "" {
			continue
		}
		var cm corev1.ConfigMap
		if err := yaml.Unmarshal(doc, &cm); err != nil {
			return err
		}
		if role := cm.Labels[patchRoleLabel]; role != "" && cm.Data[patchKey] != "" {
			byRole[role] = []byte(cm.Data[patchKey])
		}
	}
}
