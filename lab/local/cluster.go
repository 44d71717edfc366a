package local

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/controlplane"
	"github.com/cozylab/cozylab/internal/kubewatch"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
)

// kwokAnnotation selects the nodes kwok manages.
const kwokAnnotation = "kwok.x-k8s.io/node"

// Node is a simulated node.
type Node struct {
	Name   string
	CPU    string // e.g. "8"
	Memory string // e.g. "24Gi"
	// EphemeralStorage is the node's local disk for pods (emptyDirs, logs): pods that request
	// ephemeral-storage stay Pending on a node that declares none.
	EphemeralStorage string // e.g. "100Gi"
	Pods             int
}

// DefaultNodes are the Talos lab's three control-plane nodes, with its VM size.
var DefaultNodes = []Node{
	{Name: "srv1", CPU: "8", Memory: "24Gi", EphemeralStorage: "100Gi", Pods: 110},
	{Name: "srv2", CPU: "8", Memory: "24Gi", EphemeralStorage: "100Gi", Pods: 110},
	{Name: "srv3", CPU: "8", Memory: "24Gi", EphemeralStorage: "100Gi", Pods: 110},
}

// ClusterOptions configure StartCluster.
type ClusterOptions struct {
	// Root holds the control plane's run directories; the controlplane default when empty.
	Root string
	// Nodes to simulate; DefaultNodes when empty.
	Nodes []Node
	// Cache provides the binaries; the default cache when nil.
	Cache *bincache.Cache
	// Progress receives the steps; progress.Discard when nil.
	Progress progress.Reporter
	// ReadyTimeout bounds each wait; two minutes when zero.
	ReadyTimeout time.Duration
}

// Cluster is a running local cluster.
type Cluster struct {
	*controlplane.ControlPlane
	Nodes []Node
	kwok  *process.Process
}

// StartCluster starts the control plane, kwok and the nodes, and waits for every node Ready.
// On failure everything it started is stopped.
func StartCluster(ctx context.Context, o ClusterOptions) (c *Cluster, err error) {
	if len(o.Nodes) == 0 {
		o.Nodes = DefaultNodes
	}
	if o.Cache == nil {
		o.Cache = &bincache.Cache{Progress: o.Progress}
	}
	if o.Progress == nil {
		o.Progress = progress.Discard
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = 2 * time.Minute
	}
	paths, err := o.Cache.Ensure(ctx, bincache.Etcd, bincache.KubeAPIServer, bincache.KubeControllerManager, bincache.KubeScheduler, bincache.Kwok)
	if err != nil {
		return nil, err
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Root: o.Root, Etcd: paths[bincache.Etcd], APIServer: paths[bincache.KubeAPIServer],
		ControllerManager: paths[bincache.KubeControllerManager], Scheduler: paths[bincache.KubeScheduler],
		ReadyTimeout: o.ReadyTimeout, Progress: o.Progress,
	})
	if err != nil {
		return nil, err
	}
	c = &Cluster{ControlPlane: cp, Nodes: o.Nodes}
	defer func() {
		if err != nil {
			err = errors.Join(err, cp.Stop(context.WithoutCancel(ctx)))
		}
	}()
	step := o.Progress.Begin(fmt.Sprintf("Starting kwok and %d simulated nodes", len(o.Nodes)))
	if err := c.startKwok(paths[bincache.Kwok]); err != nil {
		return nil, step.Done(err)
	}
	if err := c.registerNodes(ctx); err != nil {
		return nil, step.Done(err)
	}
	return c, step.Done(waitNodesReady(ctx, cp.RESTConfig(), names(o.Nodes), o.ReadyTimeout, step))
}

// startKwok starts kwok in the control plane's process group.
func (c *Cluster) startKwok(bin string) (err error) {
	c.kwok, err = c.StartProcess(kwokSpec(bin, c.Kubeconfig))
	return err
}

// registerNodes creates the Node object of every simulated node that has none yet.
func (c *Cluster) registerNodes(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	for _, n := range c.Nodes {
		_, err := cs.CoreV1().Nodes().Create(ctx, node(n), metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", n.Name, err)
		}
	}
	return nil
}

// nodesExist checks that every simulated node's Node object is there.
func (c *Cluster) nodesExist(ctx context.Context) error {
	cs, err := kubernetes.NewForConfig(c.RESTConfig())
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	for _, n := range c.Nodes {
		if _, err := cs.CoreV1().Nodes().Get(ctx, n.Name, metav1.GetOptions{}); err != nil {
			return fmt.Errorf("check node %s: %w", n.Name, err)
		}
	}
	return nil
}

func names(nodes []Node) []string {
	var out []string
	for _, n := range nodes {
		out = append(out, n.Name)
	}
	return out
}

func kwokSpec(bin, kubeconfig string) process.Spec {
	return process.Spec{Name: "kwok", Path: bin, Args: []string{
		"--kubeconfig=" + kubeconfig,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector=" + kwokAnnotation + "=fake",
		"--manage-nodes-with-label-selector=",
		"--node-lease-duration-seconds=40",
		"--cidr=10.244.0.1/16",
		"--node-ip=127.0.0.1",
	}}
}

// node is the Node object of a simulated lab node: kwok manages it, and it carries the labels
// and capacity of a Talos control-plane node that also runs workloads.
func node(n Node) *corev1.Node {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(n.CPU),
		corev1.ResourceMemory: resource.MustParse(n.Memory),
		corev1.ResourcePods:   *resource.NewQuantity(int64(n.Pods), resource.DecimalSI),
	}
	if n.EphemeralStorage != "" {
		capacity[corev1.ResourceEphemeralStorage] = resource.MustParse(n.EphemeralStorage)
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name:        n.Name,
			Annotations: map[string]string{kwokAnnotation: "fake", "node.alpha.kubernetes.io/ttl": "0"},
			Labels: map[string]string{
				"kubernetes.io/hostname": n.Name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
				"node-role.kubernetes.io/control-plane": "", "type": "kwok",
			},
		},
		Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity},
	}
}

// waitNodesReady watches nodes until every one named is Ready.
func waitNodesReady(ctx context.Context, cfg *rest.Config, want []string, timeout time.Duration, step progress.Step) error {
	c, err := client.NewWithWatch(cfg, client.Options{})
	if err != nil {
		return fmt.Errorf("create client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ready := map[string]bool{}
	err = kubewatch.Until(ctx, c, &corev1.NodeList{}, func(ev watch.Event) (bool, error) {
		n, ok := ev.Object.(*corev1.Node)
		if !ok || !slices.Contains(want, n.Name) {
			return false, nil
		}
		ready[n.Name] = nodeReady(n)
		count := 0
		for _, r := range ready {
			if r {
				count++
			}
		}
		step.Status("nodes Ready %d/%d", count, len(want))
		return count == len(want), nil
	})
	if err != nil {
		var missing []string
		for _, n := range want {
			if !ready[n] {
				missing = append(missing, n)
			}
		}
		sort.Strings(missing)
		return fmt.Errorf("wait for nodes Ready: %s not Ready after %s (kwok log: see kwok.log in the run directory): %w", strings.Join(missing, ", "), timeout, err)
	}
	return nil
}

func nodeReady(n *corev1.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
