package e2e

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local/placement"
	"github.com/cozylab/cozylab/lab/local/webhooks"
	"github.com/cozylab/cozylab/operator/flux"
)

// stuckReasons are container waiting reasons no wait can fix: the pod needs a change (or an
// image the lab does not have).
var stuckReasons = []string{"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "CrashLoopBackOff",
	"CreateContainerConfigError", "CreateContainerError", "RunContainerError"}

// realNodes are the nodes whose pods really run: every node kwok does not simulate (kwok marks
// its own with an annotation) — the local lab's real node, every node of a QEMU lab. None in a
// kwok-only lab.
func realNodes(ctx context.Context, c client.Client) ([]string, error) {
	nodes := &corev1.NodeList{}
	if err := c.List(ctx, nodes); err != nil {
		return nil, fmt.Errorf("list nodes: %w", err)
	}
	return runningNodes(nodes.Items), nil
}

// runningNodes names the nodes among nodes that kwok does not simulate, sorted.
func runningNodes(nodes []corev1.Node) []string {
	var out []string
	for _, n := range nodes {
		if _, simulated := n.Annotations[webhooks.SimulatedNodeAnnotation]; !simulated {
			out = append(out, n.Name)
		}
	}
	slices.Sort(out)
	return out
}

// realNodesOrSay is realNodes, saying in the step when the lab has none (a kwok-only lab): the
// step then has nothing to do.
func realNodesOrSay(ctx context.Context, e *env, step progress.Step) ([]string, error) {
	nodes, err := realNodes(ctx, e.c)
	if err == nil && len(nodes) == 0 {
		step.Status("no node really runs pods in this lab (every node is simulated by kwok, annotated %s): nothing to do", webhooks.SimulatedNodeAnnotation)
	}
	return nodes, err
}

// livePodsOn lists the pods on the given nodes that are not being deleted.
func livePodsOn(ctx context.Context, c client.Client, nodes []string) ([]corev1.Pod, error) {
	pods := &corev1.PodList{}
	if err := c.List(ctx, pods); err != nil {
		return nil, fmt.Errorf("list pods: %w", err)
	}
	var out []corev1.Pod
	for _, p := range pods.Items {
		if slices.Contains(nodes, p.Spec.NodeName) && p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// podProblem says why a pod that really runs is not as it should be — not Running and Ready, a
// container restarted — or "" when it is; stuck reports a state no wait will leave.
func podProblem(p *corev1.Pod) (problem string, stuck bool) { return podProblemOf(p, false) }

// podProblemOf is podProblem; with restartsOK a restarted container is not a problem by itself.
func podProblemOf(p *corev1.Pod, restartsOK bool) (problem string, stuck bool) {
	if p.Status.Phase == corev1.PodSucceeded {
		return "", false
	}
	if p.Status.Phase == corev1.PodFailed && ownedByJob(p) {
		// A Job retries in a new pod: its failed attempts are its own business, and whoever
		// ran the Job (a Helm hook, a release) reports whether it succeeded in the end.
		return "", false
	}
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && slices.Contains(stuckReasons, w.Reason) {
			return fmt.Sprintf("container %s: %s: image %s: %s", cs.Name, w.Reason, cs.Image, w.Message), true
		}
	}
	if r := restarts(p); r != "" && !restartsOK {
		return r, true
	}
	if p.Status.Phase != corev1.PodRunning {
		return fmt.Sprintf("phase %s", p.Status.Phase), p.Status.Phase == corev1.PodFailed
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status != corev1.ConditionTrue {
			return "not Ready: " + c.Message, false
		}
	}
	return "", false
}

// restarts names the pod's first restarted container and how often it restarted; "" for a pod
// without restarts.
func restarts(p *corev1.Pod) string {
	for _, cs := range append(slices.Clone(p.Status.InitContainerStatuses), p.Status.ContainerStatuses...) {
		if cs.RestartCount > 0 {
			return fmt.Sprintf("container %s restarted %d times", cs.Name, cs.RestartCount)
		}
	}
	return ""
}

// ownedByJob reports whether a Job controls the pod.
func ownedByJob(p *corev1.Pod) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == "Job" && o.Controller != nil && *o.Controller {
			return true
		}
	}
	return false
}

// checkRealNodePods waits until every pod on a real node runs Ready without restarts; it ends
// early, naming the pod, its container and its image, when one is stuck (an image the lab does
// not have, a crash loop).
func checkRealNodePods(ctx context.Context, e *env, step progress.Step) error {
	nodes, err := realNodesOrSay(ctx, e, step)
	if err != nil || len(nodes) == 0 {
		return err
	}
	var running, restarted []string
	cond := condition.Condition{Name: "pods on the real node running", Check: func(ctx context.Context) error {
		pods, err := livePodsOn(ctx, e.c, nodes)
		if err != nil {
			return err
		}
		var waiting, stuck []error
		running, restarted = nil, nil
		for _, p := range pods {
			// An emulated lab is slow enough for a controller to miss its lease renewal or a
			// probe to time out, and the kubelet restarts it: said, not failed. A crash loop
			// still fails (CrashLoopBackOff is a stuck reason).
			problem, isStuck := podProblemOf(&p, e.pace() > 1)
			if r := restarts(&p); r != "" && problem == "" {
				restarted = append(restarted, fmt.Sprintf("%s/%s: %s", p.Namespace, p.Name, r))
			}
			switch {
			case problem == "":
				running = append(running, p.Namespace+"/"+p.Name)
			case isStuck:
				stuck = append(stuck, fmt.Errorf("Pod %s/%s on %s: %s", p.Namespace, p.Name, p.Spec.NodeName, problem))
			default:
				waiting = append(waiting, fmt.Errorf("Pod %s/%s on %s: %s", p.Namespace, p.Name, p.Spec.NodeName, problem))
			}
		}
		if len(stuck) > 0 {
			return condition.Permanent(errors.Join(stuck...))
		}
		return errors.Join(waiting...)
	}}
	if err := condition.Wait(ctx, cond, condition.Poll{Interval: 500 * time.Millisecond, Timeout: e.bound(3 * time.Minute)}, condition.StepReporter(step)); err != nil {
		return err
	}
	if len(restarted) > 0 {
		slices.Sort(restarted)
		step.Status("restarted once running, tolerated on this lab (%dx slower than native: a missed lease renewal or probe restarts a container): %s",
			e.pace(), strings.Join(restarted, "; "))
	}
	if err := platformOnRealNode(ctx, e, nodes); err != nil {
		return err
	}
	slices.Sort(running)
	step.Status("%d pods running on %s: %s", len(running), strings.Join(nodes, ", "), strings.Join(running, ", "))
	e.realPods = running
	return nil
}

// collectPodLogs writes, through the API server, the log of every container of every pod on a
// real node (and the previous one of a restarted container) to dir/pods/.
func collectPodLogs(ctx context.Context, e *env, dir string) error {
	nodes, err := realNodes(ctx, e.c)
	if err != nil || len(nodes) == 0 {
		return err
	}
	cs, err := kubernetes.NewForConfig(e.cfg)
	if err != nil {
		return err
	}
	pods := &corev1.PodList{}
	if err := e.c.List(ctx, pods); err != nil {
		return err
	}
	out := filepath.Join(dir, "pods")
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	var errs []error
	for _, p := range pods.Items {
		if !slices.Contains(nodes, p.Spec.NodeName) {
			continue
		}
		for _, c := range p.Status.ContainerStatuses {
			for _, previous := range []bool{false, true} {
				if previous && c.RestartCount == 0 {
					continue
				}
				raw, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: c.Name, Previous: previous}).DoRaw(ctx)
				if err != nil {
					if c.State.Running != nil || c.State.Terminated != nil {
						errs = append(errs, fmt.Errorf("log of %s/%s %s: %w", p.Namespace, p.Name, c.Name, err))
					}
					continue
				}
				name := fmt.Sprintf("%s_%s_%s", p.Namespace, p.Name, c.Name)
				if previous {
					name += ".previous"
				}
				errs = append(errs, os.WriteFile(filepath.Join(out, name+".log"), raw, 0o644))
			}
		}
	}
	return errors.Join(errs...)
}

// realNodePodProblems lists, for the diagnostics summary, every pod on a real node that is not
// running as it should, stuck ones first (a crash loop or a missing image blocks whatever needs
// the pod: a crashing Flux pod stops the whole platform); a container that restarted comes with
// the last line of its previous log, where a crash usually says why.
func realNodePodProblems(ctx context.Context, e *env) ([]podIssue, error) {
	nodes, err := realNodes(ctx, e.c)
	if err != nil || len(nodes) == 0 {
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(e.cfg)
	if err != nil {
		return nil, err
	}
	pods, err := livePodsOn(ctx, e.c, nodes)
	if err != nil {
		return nil, err
	}
	var issues []podIssue
	for _, p := range pods {
		problem, isStuck := podProblem(&p)
		if problem == "" {
			continue
		}
		line := fmt.Sprintf("Pod %s/%s on %s: %s", p.Namespace, p.Name, p.Spec.NodeName, problem)
		for _, c := range p.Status.ContainerStatuses {
			if c.RestartCount == 0 {
				continue
			}
			if last := lastLogLine(ctx, cs, &p, c.Name); last != "" {
				line += fmt.Sprintf("; container %s's last log line before its restart: %s", c.Name, last)
			}
		}
		issues = append(issues, podIssue{Line: line, Stuck: isStuck})
	}
	slices.SortFunc(issues, func(a, b podIssue) int {
		if a.Stuck != b.Stuck {
			if a.Stuck {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Line, b.Line)
	})
	return issues, nil
}

// podIssue is a pod on a real node that does not run as it should.
type podIssue struct {
	Line string
	// Stuck: no wait will fix it (a crash loop, a missing image).
	Stuck bool
}

// lastLogLine is the last non-empty line of the previous run of a container, or "".
func lastLogLine(ctx context.Context, cs kubernetes.Interface, p *corev1.Pod, container string) string {
	tail := int64(5)
	raw, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{Container: container, Previous: true, TailLines: &tail}).DoRaw(ctx)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	if len(last) > 400 {
		last = last[:400] + "…"
	}
	return last
}

// platformControllers are the Deployments of the platform's own controllers: the operator
// (installer chart) and Flux (as the operator installs it). On a lab with a real node they run
// there, as on a real cluster.
var platformControllers = []client.ObjectKey{{Namespace: InstallerNS, Name: "cozystack-operator"}, {Namespace: flux.Namespace, Name: "flux"}}

// platformOnRealNode fails unless every platform controller has a pod on a real node, naming
// where its pods went instead and the placement rule's decision on each.
func platformOnRealNode(ctx context.Context, e *env, nodes []string) error {
	var errs []error
	for _, key := range platformControllers {
		dep := &appsv1.Deployment{}
		if err := e.c.Get(ctx, key, dep); err != nil {
			return fmt.Errorf("read Deployment %s: %w", key, err)
		}
		sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
		if err != nil {
			return fmt.Errorf("Deployment %s: %w", key, err)
		}
		pods := &corev1.PodList{}
		if err := e.c.List(ctx, pods, client.InNamespace(key.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
			return fmt.Errorf("list the pods of Deployment %s: %w", key, err)
		}
		var elsewhere []string
		onReal := false
		for _, p := range pods.Items {
			if slices.Contains(nodes, p.Spec.NodeName) {
				onReal = true
				break
			}
			elsewhere = append(elsewhere, fmt.Sprintf("%s on %q (%s: %s)", p.Name, p.Spec.NodeName, placement.Annotation, p.Annotations[placement.Annotation]))
		}
		if !onReal {
			errs = append(errs, fmt.Errorf("Deployment %s has no pod on the real node %s: %s", key, strings.Join(nodes, ", "),
				cmp.Or(strings.Join(elsewhere, "; "), "no pod at all")))
		}
	}
	return errors.Join(errs...)
}
