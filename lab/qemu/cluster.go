package qemu

import (
	"context"
	"fmt"
	"github.com/cozylab/cozylab/internal/atomicfile"
	"os"
	"path/filepath"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/talos/flows"
)

// Bounds of the cluster waits. Three twins under TCG share the host's cores, so every call is
// slow; these are bounds on a healthy lab, not expected durations. The etcd-members bound
// leaves room for a host that also runs other work (a CI's tests beside the lab): a joining
// etcd then syncs in minutes, not seconds.
var (
	nodePoll    = condition.Poll{Interval: time.Second, Timeout: 5 * time.Minute, AttemptTimeout: 10 * time.Second}
	clusterPoll = condition.Poll{Interval: 2 * time.Second, Timeout: 10 * time.Minute, AttemptTimeout: 10 * time.Second}
	retryPoll   = condition.Poll{Interval: time.Second, Timeout: 3 * time.Minute, AttemptTimeout: 10 * time.Second}
)

// kubernetesPoll bounds the check that a client reaches the Kubernetes API on the VIP; the
// client's own timeout (10 s) bounds each attempt.
var kubernetesPoll = condition.Poll{Interval: 2 * time.Second, Timeout: 3 * time.Minute, AttemptTimeout: 30 * time.Second}

// waitForAPIs connects to every node's Talos API over the bridge, with the talosconfig's
// client certificate, and waits for each to answer.
func (l *lab) waitForAPIs(ctx context.Context, step progress.Step) error {
	for _, n := range l.configs.Nodes {
		c, err := client.New(ctx, client.WithConfig(l.configs.Talosconfig), client.WithEndpoints(n.Address.String()))
		if err != nil {
			return fmt.Errorf("create Talos client for %s: %w", n.Name, err)
		}
		l.clients = append(l.clients, c)
	}
	for i, n := range l.configs.Nodes {
		step.Status("%s at %s (%d/%d answered)", n.Name, n.Address, i, NodeCount)
		if err := condition.Wait(ctx, flows.APIReady(n.Name, l.clients[i]), nodePoll, condition.StepReporter(step)); err != nil {
			return fmt.Errorf("%w; see %s", err, NodePaths(l.Dir, n.Name).Serial)
		}
	}
	return nil
}

// bootstrap starts etcd on the first node, once.
func (l *lab) bootstrap(ctx context.Context, step progress.Step) error {
	first := l.configs.Nodes[0].Name
	step.Status("on %s", first)
	return flows.Bootstrap(ctx, first, l.clients[0], flows.BootstrapTiming{Ready: nodePoll, Retry: retryPoll}, condition.StepReporter(step))
}

// waitForEtcd waits until etcd reports one voting member per node.
func (l *lab) waitForEtcd(ctx context.Context, step progress.Step) error {
	return condition.Wait(ctx, flows.EtcdMembers(l.clients[0], NodeCount), clusterPoll, condition.StepReporter(step))
}

// fetchKubeconfig writes the admin kubeconfig (0600) to the lab directory.
func (l *lab) fetchKubeconfig(ctx context.Context, step progress.Step) error {
	first := l.configs.Nodes[0].Name
	step.Status("from %s", first)
	raw, err := flows.Kubeconfig(ctx, first, l.clients[0], clusterPoll, condition.StepReporter(step))
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(l.Dir, "kubeconfig"), raw, 0o600) // it carries credentials
}

// checkKubernetes waits until a client-go client, with nothing but the kubeconfig, gets the
// server version and lists namespaces through the VIP across the lab bridge.
func (l *lab) checkKubernetes(ctx context.Context, step progress.Step) error {
	step.Status("VIP %s", l.plan.VIP)
	var answer string
	cond, err := KubernetesAnswers(filepath.Join(l.Dir, "kubeconfig"), &answer)
	if err != nil {
		return err
	}
	if err := condition.Wait(ctx, cond, kubernetesPoll, condition.StepReporter(step)); err != nil {
		return err
	}
	// The answer itself (version, namespaces), on a line of its own like the accelerator's.
	l.Progress.Begin(fmt.Sprintf("Kubernetes API on https://%s:6443", l.plan.VIP)).Skip(answer)
	return nil
}

// KubernetesAnswers is the condition that the API server named in kubeconfig tells its
// version and lists namespaces, among them "default", which the API server creates itself once
// its bootstrap hooks ran. Once it holds, answer (when not nil) says what the server told:
// "Kubernetes v1.35.4, 12 namespaces".
func KubernetesAnswers(kubeconfig string, answer *string) (condition.Condition, error) {
	raw, err := os.ReadFile(kubeconfig)
	if err != nil {
		return condition.Condition{}, fmt.Errorf("read kubeconfig: %w", err)
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(raw)
	if err != nil {
		return condition.Condition{}, fmt.Errorf("load kubeconfig %s: %w", kubeconfig, err)
	}
	cfg.Timeout = 10 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return condition.Condition{}, fmt.Errorf("create Kubernetes client: %w", err)
	}
	return condition.Condition{
		Name: "Kubernetes API at " + cfg.Host + " lists namespace default",
		Check: func(ctx context.Context) error {
			v, err := cs.Discovery().ServerVersion()
			if err != nil {
				return fmt.Errorf("get server version: %w", err)
			}
			ns, err := cs.CoreV1().Namespaces().List(ctx, metav1.ListOptions{})
			if err != nil {
				return fmt.Errorf("list namespaces: %w", err)
			}
			for _, n := range ns.Items {
				if n.Name == metav1.NamespaceDefault {
					if answer != nil {
						*answer = fmt.Sprintf("Kubernetes %s, %d namespaces", v.GitVersion, len(ns.Items))
					}
					return nil
				}
			}
			return fmt.Errorf("the API server (Kubernetes %s) answers; its bootstrap has not created namespace default yet", v.GitVersion)
		},
	}, nil
}
