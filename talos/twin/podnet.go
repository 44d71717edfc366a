package twin

import (
	"cmp"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/cozylab/cozylab/internal/nodeconfig"
)

// insecureLocal reaches the node's own components' health endpoints, which serve a
// self-signed certificate; nothing but a health status goes over it.
var insecureLocal = &http.Transport{
	TLSClientConfig:   &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // local health checks only
	DisableKeepAlives: true,
}

// waitTick is the pod network loop's period.
const waitTick = 3 * time.Second

// Names of the node's pod network.
const (
	podBridge   = "cni0"
	podNetwork  = "twin"
	cniConfName = "10-twin.conflist"
)

// podNetwork is the node's part of the cluster's pod network, as a host-gateway CNI runs it:
// once the controller manager gave this node a pod CIDR, it writes the CNI configuration (a
// bridge holding the CIDR's first address), and it keeps the routes to every other node's pod
// CIDR through that node's address (KubeOptions.Routes). It also labels the node as the config
// says. It runs as long as the node, polling the API server.
func (n *ProcessNode) podNetwork(ctx context.Context, p nodeconfig.Paths, kf kubeFacts) {
	cs, err := kubernetes.NewForConfig(n.localRESTConfig())
	if err != nil {
		n.log("pod network: %v", err)

		return
	}

	var (
		ownCIDR  netip.Prefix
		routes   []PodRoute
		labelled bool
		lastErr  string
	)

	ticker := time.NewTicker(waitTick)
	defer ticker.Stop()

	for {
		err := func() error {
			nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("list nodes: %w", err)
			}

			own, others := splitNodes(nodes.Items, n.opts.Hostname)
			if own == nil {
				return fmt.Errorf("node %s is not registered yet", n.opts.Hostname)
			}

			if !labelled {
				if err := n.labelNode(ctx, cs, own, kf.labels); err != nil {
					return err
				}

				labelled = true
			}

			if cidr, ok := podCIDR(own); ok && cidr != ownCIDR {
				if err := writeCNI(p, cidr); err != nil {
					return err
				}

				ownCIDR = cidr
				n.log("pod network: %s on bridge %s", cidr, podBridge)
			}

			want := routesTo(others)
			if !slices.Equal(want, routes) && n.opts.Kube.Routes != nil {
				if err := n.opts.Kube.Routes(ctx, want); err != nil {
					return fmt.Errorf("set pod routes: %w", err)
				}

				routes = want
				n.log("pod network: routes %s", describeRoutes(want))
			}

			return nil
		}()

		if err != nil && err.Error() != lastErr && ctx.Err() == nil {
			n.log("pod network: %v", err)
		}

		lastErr = ""
		if err != nil {
			lastErr = err.Error()
		}

		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
	}
}

// localRESTConfig is the cluster admin on this node's own API server.
func (n *ProcessNode) localRESTConfig() *rest.Config {
	pki := n.layout.pki()

	return &rest.Config{
		Host: httpsURL(n.opts.Address, apiServerPort),
		TLSClientConfig: rest.TLSClientConfig{
			CAFile: filepath.Join(pki, "ca.crt"), CertFile: filepath.Join(pki, "admin.crt"), KeyFile: filepath.Join(pki, "admin.key"),
		},
		Timeout: 10 * time.Second,
	}
}

func splitNodes(nodes []corev1.Node, name string) (*corev1.Node, []corev1.Node) {
	var (
		own    *corev1.Node
		others []corev1.Node
	)

	for i := range nodes {
		if nodes[i].Name == name {
			own = &nodes[i]
		} else {
			others = append(others, nodes[i])
		}
	}

	return own, others
}

func podCIDR(node *corev1.Node) (netip.Prefix, bool) {
	p, err := netip.ParsePrefix(node.Spec.PodCIDR)

	return p.Masked(), err == nil && p.Addr().Is4()
}

// routesTo are the routes to the other nodes' pod CIDRs through their InternalIP, sorted by node.
func routesTo(others []corev1.Node) []PodRoute {
	var out []PodRoute

	for i := range others {
		cidr, ok := podCIDR(&others[i])
		if !ok {
			continue
		}

		for _, a := range others[i].Status.Addresses {
			if ip, err := netip.ParseAddr(a.Address); a.Type == corev1.NodeInternalIP && err == nil && ip.Is4() {
				out = append(out, PodRoute{Node: others[i].Name, Pods: cidr, Via: ip})

				break
			}
		}
	}

	slices.SortFunc(out, func(a, b PodRoute) int { return cmp.Compare(a.Node, b.Node) })

	return out
}

func describeRoutes(routes []PodRoute) string {
	if len(routes) == 0 {
		return "none"
	}

	s := ""
	for i, r := range routes {
		if i > 0 {
			s += ", "
		}

		s += fmt.Sprintf("%s via %s (%s)", r.Pods, r.Via, r.Node)
	}

	return s
}

// writeCNI writes the bridge network on cidr; containerd reads the directory on each pod.
func writeCNI(p nodeconfig.Paths, cidr netip.Prefix) error {
	conf, err := nodeconfig.CNI(p, nodeconfig.Bridge{Network: podNetwork, Device: podBridge, Pods: cidr, Gateway: cidr.Addr().Next()})
	if err != nil {
		return err
	}

	if err := os.MkdirAll(p.CNIConfDir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", p.CNIConfDir, err)
	}

	tmp := filepath.Join(p.CNIConfDir, "."+cniConfName)
	if err := os.WriteFile(tmp, conf, 0o600); err != nil {
		return fmt.Errorf("write CNI configuration: %w", err)
	}

	if err := os.Rename(tmp, filepath.Join(p.CNIConfDir, cniConfName)); err != nil {
		return fmt.Errorf("write CNI configuration: %w", err)
	}

	return nil
}

// labelNode merges the config's node labels (and the control-plane role) into the node, as
// Talos's node label controller does: the kubelet may not set node-role labels itself.
func (n *ProcessNode) labelNode(ctx context.Context, cs kubernetes.Interface, node *corev1.Node, labels map[string]string) error {
	missing := false

	for k, v := range labels {
		if got, ok := node.Labels[k]; !ok || got != v {
			missing = true
		}
	}

	if !missing {
		return nil
	}

	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": maps.Clone(labels)}})
	if err != nil {
		return fmt.Errorf("encode node labels: %w", err)
	}

	if _, err := cs.CoreV1().Nodes().Patch(ctx, node.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("label node %s: %w", node.Name, err)
	}

	return nil
}
