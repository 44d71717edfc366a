package qemu

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/client"
	"github.com/siderolabs/talos/pkg/machinery/config/configloader"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/clientcmd"
	ctrlclient "sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/kubewatch"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/clusterdns"
	"github.com/cozylab/cozylab/lab/images"
)

// Bounds of the twins' workload steps under TCG on a shared 2-core host: a kubelet registers
// within a minute or two of its API server; CoreDNS's pull and start take about as long. They
// bound a healthy lab, and end a lab whose twins run no kubelet (an agent without one) with a
// message naming each node instead of a hang. CoreDNS's bound leaves room for a host that also
// runs other work: there the guests' API servers answered in 5 to 10 s for minutes, and 5
// minutes ran out while the lab was still converging.
var (
	nodesReadyTimeout = 10 * time.Minute
	dnsPoll           = condition.Poll{Interval: 2 * time.Second, Timeout: 15 * time.Minute, AttemptTimeout: 10 * time.Second}
)

// buildImages builds the images the lab itself runs (images.LabImages: the pod sandbox,
// CoreDNS, the Flux controllers) and pushes them to the lab registry under their upstream
// names, which the nodes' registry mirrors point at; the registry lives in the daemon's
// memory, so a resumed lab pushes them again (the builds are cached). Under TCG the layers are
// plain tars: a twin took over three minutes to pull a 32 MB gzip layer, and emulated, gunzip
// costs about 2.5 times the hashing of the same bytes (measured with qemu-user), a cost a plain
// tar does not have.
func (l *lab) buildImages(ctx context.Context, step progress.Step) error {
	names := images.LabImages()
	step.Status("%d images into %s, which the nodes pull from as %s", len(names), l.registry.Addr(), l.clusterRegistry)
	_, err := images.Build(ctx, images.Options{Registry: l.registry.Addr(), RepoRoot: l.store.Request().RepoRoot,
		Names: names, Cache: l.cache, Progress: l.Progress, Uncompressed: !l.req.KVM})
	return err
}

// kubeClient is a client of the lab's API server through its kubeconfig (the VIP).
func (l *lab) kubeClient() (ctrlclient.WithWatch, error) {
	cfg, err := clientcmd.BuildConfigFromFlags("", filepath.Join(l.Dir, "kubeconfig"))
	if err != nil {
		return nil, fmt.Errorf("load the lab's kubeconfig: %w", err)
	}
	c, err := ctrlclient.NewWithWatch(cfg, ctrlclient.Options{})
	if err != nil {
		return nil, fmt.Errorf("create Kubernetes client: %w", err)
	}
	return c, nil
}

// waitForNodes watches the Node objects until every node (srv1..) is registered and Ready: the
// twins' kubelets register themselves. At its bound it names each node that is not, and why.
func (l *lab) waitForNodes(ctx context.Context, step progress.Step) error {
	c, err := l.kubeClient()
	if err != nil {
		return err
	}
	want := NodeNames(NodeCount)
	seen := map[string]*corev1.Node{}
	wctx, cancel := context.WithTimeout(ctx, nodesReadyTimeout)
	defer cancel()
	step.Status("nodes Ready 0/%d", len(want))
	err = kubewatch.Until(wctx, c, &corev1.NodeList{}, func(ev watch.Event) (bool, error) {
		n, ok := ev.Object.(*corev1.Node)
		if !ok || !slices.Contains(want, n.Name) {
			return false, nil
		}
		if ev.Type == watch.Deleted {
			delete(seen, n.Name)
		} else {
			seen[n.Name] = n
		}
		problems := nodeProblems(want, seen)
		if len(problems) == 0 {
			step.Status("nodes Ready %d/%d", len(want), len(want))
			return true, nil
		}
		step.Status("nodes Ready %d/%d — waiting on %s", len(want)-len(problems), len(want), problems[0])
		return false, nil
	})
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	why := fmt.Sprintf("gave up after %s", nodesReadyTimeout)
	if !errors.Is(err, context.DeadlineExceeded) {
		why = err.Error()
	}
	var lines []string
	for _, p := range nodeProblems(want, seen) {
		lines = append(lines, p.String()+l.nodeHint(ctx, p.Node))
	}
	return fmt.Errorf("wait for nodes %s Ready: %s: %s", strings.Join(want, ", "), why, strings.Join(lines, "; "))
}

// nodeProblem is a wanted node that is not Ready, and why.
type nodeProblem struct{ Node, Why string }

func (p nodeProblem) String() string { return p.Node + ": " + p.Why }

// nodeProblems lists the wanted nodes that are not Ready, in order.
func nodeProblems(want []string, seen map[string]*corev1.Node) []nodeProblem {
	var out []nodeProblem
	for _, name := range want {
		n, ok := seen[name]
		if !ok {
			out = append(out, nodeProblem{name, "not registered"})
			continue
		}
		if why := notReady(n); why != "" {
			out = append(out, nodeProblem{name, why})
		}
	}
	return out
}

// notReady says why n is not Ready, or "" when it is.
func notReady(n *corev1.Node) string {
	for _, c := range n.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		if c.Status == corev1.ConditionTrue {
			return ""
		}
		why := "NotReady"
		if c.Reason != "" {
			why += " (" + c.Reason + ")"
		}
		if c.Message != "" {
			why += ": " + c.Message
		}
		return why
	}
	return "registered, no Ready condition yet"
}

// nodeHint is where to look for why node is not Ready: the services its Talos API reports
// (a twin image without the kubelet reports none) and its serial log. The service logs are
// saved by Run when the bring-up fails.
func (l *lab) nodeHint(ctx context.Context, node string) string {
	i := slices.Index(NodeNames(NodeCount), node)
	hint := fmt.Sprintf(" (see its serial log %s", NodePaths(l.Dir, node).Serial)
	if i >= 0 && i < len(l.clients) {
		sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		ids, err := serviceIDs(sctx, l.clients[i])
		cancel()
		switch {
		case err != nil:
			hint += fmt.Sprintf("; its Talos API does not list its services: %v", err)
		case !slices.Contains(ids, "kubelet"):
			hint += fmt.Sprintf("; its Talos API lists no kubelet, only %s: a twin agent that starts none", strings.Join(ids, ", "))
		default:
			hint += "; and its kubelet log"
		}
	}
	return hint + ")"
}

// serviceIDs are the services node c reports (ServiceList), in its order.
func serviceIDs(ctx context.Context, c *client.Client) ([]string, error) {
	resp, err := c.ServiceList(ctx)
	if err != nil {
		return nil, fmt.Errorf("list services: %w", err)
	}
	var ids []string
	for _, m := range resp.GetMessages() {
		for _, s := range m.GetServices() {
			ids = append(ids, s.GetId())
		}
	}
	return ids, nil
}

// DNSSettings are the cluster DNS a node config gives the kubelets: the kube-dns Service's
// address (the 10th of the first service subnet, as Talos places it) and the cluster domain.
type DNSSettings struct {
	ServiceIP netip.Addr
	Domain    string
}

// ClusterDNS reads the cluster DNS settings from a node's machine config.
func ClusterDNS(machineConfig []byte) (DNSSettings, error) {
	cfg, err := configloader.NewFromBytes(machineConfig)
	if err != nil {
		return DNSSettings{}, fmt.Errorf("read machine config: %w", err)
	}
	ips, err := cfg.Cluster().Network().DNSServiceIPs()
	if err != nil {
		return DNSSettings{}, fmt.Errorf("read the cluster DNS address of the machine config: %w", err)
	}
	if len(ips) == 0 {
		return DNSSettings{}, errors.New("the machine config has no service subnet, so no cluster DNS address")
	}
	return DNSSettings{ServiceIP: ips[0], Domain: cfg.Cluster().Network().DNSDomain()}, nil
}

// dnsDomains are the zones the lab's CoreDNS serves: the config's cluster domain, which the
// kubelets give pods, and cluster.local too, for names written with Kubernetes' default.
func (d DNSSettings) dnsDomains() []string {
	if d.Domain == "" || d.Domain == clusterdns.DefaultDomain {
		return []string{clusterdns.DefaultDomain}
	}
	return []string{d.Domain, clusterdns.DefaultDomain}
}

// startDNS applies CoreDNS (lab/clusterdns; any node may run it) with the kube-dns Service at
// the address the machine config gives the kubelets, and waits until its Deployment is
// Available.
func (l *lab) startDNS(ctx context.Context, step progress.Step) error {
	dns, err := ClusterDNS(l.configs.Nodes[0].Config)
	if err != nil {
		return err
	}
	img, err := images.Lookup(images.CoreDNS)
	if err != nil {
		return err
	}
	c, err := l.kubeClient()
	if err != nil {
		return err
	}
	if err := clusterdns.Apply(ctx, c, clusterdns.Options{Image: img.Upstream, ServiceIP: dns.ServiceIP, Domains: dns.dnsDomains()}); err != nil {
		return err
	}
	step.Status("%s/%s at %s for %s, image %s", clusterdns.Namespace, clusterdns.ServiceName, dns.ServiceIP,
		strings.Join(dns.dnsDomains(), ", "), img.Upstream)
	return condition.Wait(ctx, dnsAvailable(c), dnsPoll, condition.StepReporter(step))
}

// dnsAvailable is clusterdns.Available, saying what CoreDNS's pods are doing while it does not
// hold (unscheduled, pulling, an image the lab registry lacks).
func dnsAvailable(c ctrlclient.Client) condition.Condition {
	avail := clusterdns.Available(c)
	return condition.Condition{Name: avail.Name, Check: func(ctx context.Context) error {
		err := avail.Check(ctx)
		if err == nil {
			return nil
		}
		pods := &corev1.PodList{}
		if lerr := c.List(ctx, pods, ctrlclient.InNamespace(clusterdns.Namespace), ctrlclient.MatchingLabels{"k8s-app": "kube-dns"}); lerr != nil {
			return fmt.Errorf("%w; list its pods: %w", err, lerr)
		}
		var states []string
		for _, p := range pods.Items {
			states = append(states, podState(&p))
		}
		if len(states) == 0 {
			return fmt.Errorf("%w; no pod yet", err)
		}
		return fmt.Errorf("%w; %s", err, strings.Join(states, "; "))
	}}
}

// podState is one line on where a pod is and what holds it up.
func podState(p *corev1.Pod) string {
	where := "not scheduled"
	if p.Spec.NodeName != "" {
		where = "on " + p.Spec.NodeName
	}
	line := fmt.Sprintf("pod %s %s: %s", p.Name, where, p.Status.Phase)
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status != corev1.ConditionTrue && c.Message != "" {
			return line + " (" + c.Message + ")"
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" {
			line += fmt.Sprintf(" (container %s %s", cs.Name, w.Reason)
			if w.Message != "" {
				line += ": " + w.Message
			}
			return line + ")"
		}
	}
	return line
}
