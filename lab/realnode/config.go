package realnode

import (
	"net/netip"
	"path/filepath"

	corev1 "k8s.io/api/core/v1"

	"github.com/cozylab/cozylab/internal/nodeconfig"
)

// CNIBinDir is where Debian's containernetworking-plugins package puts the plugins.
const CNIBinDir = "/usr/lib/cni"

// paths are the node's files under its run directory: its programs' (nodeconfig.Paths) and the
// node's network namespace. Socket paths must stay short (108 bytes).
type paths struct {
	nodeconfig.Paths
	dir, netns string
}

func pathsIn(dir string) paths {
	return paths{dir: dir, netns: filepath.Join(dir, "netns"), Paths: nodeconfig.PathsIn(dir, CNIBinDir)}
}

// node is the real node as nodeconfig renders it: cgroup v1 with cgroupfs under the lab's own
// cgroup root, no host resolver for pods (the host's is not reachable from the node), the
// label that tells it from the kwok nodes (its taint is set through the API, Start).
func node(plan Plan, pauseImage string, clusterDNS netip.Addr, clusterDomain string) nodeconfig.Node {
	return nodeconfig.Node{
		Name: NodeName, Address: plan.Node, PauseImage: pauseImage, CgroupRoot: plan.CgroupRoot,
		ClusterDNS: clusterDNS, ClusterDomain: clusterDomain, ClusterCIDR: plan.Pods.String(),
		Labels: map[string]string{RealNodeLabel: "true"},
	}
}

// bridge is the pods' network: a bridge in the node's namespace on the pods' /25.
func bridge(plan Plan) nodeconfig.Bridge {
	return nodeconfig.Bridge{Network: cniNetwork(plan), Device: Bridge, Pods: plan.Pods, Gateway: plan.PodGateway}
}

// RealNodeLabel marks the real node (the kwok nodes carry kwok's annotation instead); the node
// is also tainted with it (NoSchedule), so a pod runs here only when it asks to: Placement.
const RealNodeLabel = "cozylab.io/real-node"

// Placement pins a pod to the real node: its node selector and toleration.
func Placement(spec *corev1.PodSpec) {
	if spec.NodeSelector == nil {
		spec.NodeSelector = map[string]string{}
	}
	spec.NodeSelector[RealNodeLabel] = "true"
	spec.Tolerations = append(spec.Tolerations, corev1.Toleration{Key: RealNodeLabel, Operator: corev1.TolerationOpEqual, Value: "true", Effect: corev1.TaintEffectNoSchedule})
}

// cniNetwork names the pods' network; containerd's CNI result cache (/var/lib/cni/results)
// names its files after it, so Clean finds this lab's.
func cniNetwork(plan Plan) string { return "cozylab-" + shortName(plan.Lab) }
