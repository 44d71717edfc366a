package e2e

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/e2e/releasewait"
	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local/placement"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// echoLabel selects the example echo server's objects (packages/system/echo).
var echoLabel = client.MatchingLabels{"app.kubernetes.io/name": "echo"}

// echoArtifact is the echo server chart's artifact the operator builds for the echo
// application (core/platform/sources/echo-application.yaml), the chart apps/echo's HelmRelease
// points at.
const echoArtifact = "cozystack-echo-application-default-echo-system"

// echoPackage is the Package of the echo application (bundles.enabledPackages).
const echoPackage = "cozystack.echo-application"

// echoAppNS is where the e2e creates its echo application instance.
const echoAppNS = "cozy-e2e-echo"

// installEchoApp creates an echo application instance as apps/echo renders one — a HelmRelease
// of the echo server chart's artifact — and waits until it is Ready, so the next check finds a
// workload of the platform to reach. A platform variant without the echo application (no
// Package cozystack.echo-application) is said and skipped.
func installEchoApp(ctx context.Context, e *env, step progress.Step) error {
	nodes, err := realNodesOrSay(ctx, e, step)
	if err != nil || len(nodes) == 0 {
		return err
	}
	pkg := &v1alpha1.Package{}
	if err := e.c.Get(ctx, client.ObjectKey{Name: echoPackage}, pkg); err != nil {
		if apierrors.IsNotFound(err) {
			step.Status("the platform variant has no echo application (Package %s): nothing to install", echoPackage)
			return nil
		}
		return err
	}
	art := &sourcev1.ExternalArtifact{}
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: InstallerNS, Name: echoArtifact}, art); err != nil {
		return fmt.Errorf("the echo application's chart artifact %s/%s: %w", InstallerNS, echoArtifact, err)
	}
	if err := e.c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: echoAppNS}}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", echoAppNS, err)
	}
	hr := &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Name: "echo-system", Namespace: echoAppNS,
			Labels: map[string]string{"app.kubernetes.io/name": "echo", "app.kubernetes.io/instance": "echo"}},
		Spec: helmv2.HelmReleaseSpec{
			Interval: metav1.Duration{Duration: 5 * time.Minute}, ReleaseName: "echo",
			ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: sourcev1.ExternalArtifactKind, Name: echoArtifact, Namespace: InstallerNS},
		},
	}
	created := true
	if err := e.c.Create(ctx, hr); apierrors.IsAlreadyExists(err) {
		created = false // an earlier run's: the release wait counted it already
	} else if err != nil {
		return fmt.Errorf("create HelmRelease %s/%s: %w", hr.Namespace, hr.Name, err)
	}
	step.Status("HelmRelease %s/%s of %s", hr.Namespace, hr.Name, echoArtifact)
	ready := condition.Condition{Name: fmt.Sprintf("HelmRelease %s/%s Ready", hr.Namespace, hr.Name), Check: func(ctx context.Context) error {
		if err := e.c.Get(ctx, client.ObjectKeyFromObject(hr), hr); err != nil {
			return err
		}
		switch o := releasewait.Classify(hr); o.State {
		case releasewait.Ready:
			return nil
		case releasewait.Stalled:
			return condition.Permanent(errors.New(o.Detail()))
		default:
			return errors.New(o.Detail())
		}
	}}
	if err := condition.Wait(ctx, ready, condition.Poll{Interval: 500 * time.Millisecond, Timeout: e.bound(5 * time.Minute)}, condition.StepReporter(step)); err != nil {
		return err
	}
	if created {
		e.releases++
	}
	return nil
}

// checkEchoPage fetches the page of every echo server that runs on the real node through its
// Service's DNS name, from another pod (its image's `echo get`): cluster DNS, Service IPs and
// pod-to-pod traffic, as a user of the platform sees them. An echo whose pods are simulated (its
// image was not built) is named and skipped.
func checkEchoPage(ctx context.Context, e *env, step progress.Step) error {
	nodes, err := realNodesOrSay(ctx, e, step)
	if err != nil || len(nodes) == 0 {
		return err
	}
	deps := &appsv1.DeploymentList{}
	if err := e.c.List(ctx, deps, echoLabel); err != nil {
		return fmt.Errorf("list echo Deployments: %w", err)
	}
	cs, err := kubernetes.NewForConfig(e.cfg)
	if err != nil {
		return err
	}
	var errs []error
	for _, d := range deps.Items {
		pods := &corev1.PodList{}
		if err := e.c.List(ctx, pods, client.InNamespace(d.Namespace), client.MatchingLabels(d.Spec.Selector.MatchLabels)); err != nil {
			return err
		}
		// Every pod behind the Service must really run: one simulated pod (a rollout to an image
		// the lab does not have — a tree whose images were not built here) is a Service
		// endpoint that never answers.
		if i := slices.IndexFunc(pods.Items, func(p corev1.Pod) bool {
			return p.DeletionTimestamp == nil && !slices.Contains(nodes, p.Spec.NodeName)
		}); i >= 0 {
			p := pods.Items[i]
			step.Status("echo %s/%s: pod %s runs on the simulated node %s (%s): page not fetched",
				d.Namespace, d.Name, p.Name, p.Spec.NodeName, p.Annotations[placement.Annotation])
			continue
		}
		svc := &corev1.Service{}
		if err := e.c.Get(ctx, client.ObjectKey{Namespace: d.Namespace, Name: d.Name}, svc); err != nil {
			errs = append(errs, fmt.Errorf("echo %s/%s: its Service: %w", d.Namespace, d.Name, err))
			continue
		}
		// Through the pod's DNS search path: the cluster's domain is the lab's own (cluster.local
		// locally, the Talos config's dnsDomain on QEMU).
		url := fmt.Sprintf("http://%s.%s.svc:%d/", svc.Name, svc.Namespace, svc.Spec.Ports[0].Port)
		page, err := fetchFromPod(ctx, e, cs, d.Namespace, d.Spec.Template.Spec.Containers[0].Image, url)
		if err != nil {
			errs = append(errs, fmt.Errorf("echo %s/%s: fetch %s from a pod: %w", d.Namespace, d.Name, url, err))
			continue
		}
		first, _, _ := strings.Cut(page, "\n")
		if !strings.HasPrefix(first, "echo from ") {
			errs = append(errs, fmt.Errorf("echo %s/%s: %s answered %q, not its echo page", d.Namespace, d.Name, url, first))
			continue
		}
		step.Status("%s → %q", url, first)
		e.echoURLs = append(e.echoURLs, url)
	}
	return errors.Join(errs...)
}

// fetchFromPod runs `echo get url` in a pod of image in namespace and returns what it printed.
// The pod is retried (a new one) while the Service's endpoints are still reaching kube-proxy.
func fetchFromPod(ctx context.Context, e *env, cs kubernetes.Interface, ns, image, url string) (page string, err error) {
	var lastLog string
	for attempt := 1; attempt <= 10; attempt++ {
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "echo-client-", Namespace: ns, Labels: map[string]string{"cozylab.io/e2e": "echo-client"}},
			Spec: corev1.PodSpec{
				RestartPolicy: corev1.RestartPolicyNever, TerminationGracePeriodSeconds: ptr.To[int64](1),
				AutomountServiceAccountToken: ptr.To(false),
				Containers:                   []corev1.Container{{Name: "get", Image: image, Args: []string{"get", url}}},
			},
		}
		if err := e.c.Create(ctx, pod); err != nil {
			return "", fmt.Errorf("create the client pod: %w", err)
		}
		done := condition.Condition{Name: "client pod " + pod.Name + " done", Check: func(ctx context.Context) error {
			if err := e.c.Get(ctx, client.ObjectKeyFromObject(pod), pod); err != nil {
				return err
			}
			if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
				return nil // a failed fetch is retried below with a new pod
			}
			if problem, stuck := podProblem(pod); stuck {
				return condition.Permanent(errors.New(problem)) // its image cannot run: no retry helps
			}
			return fmt.Errorf("phase %s", pod.Status.Phase)
		}}
		err := condition.Wait(ctx, done, condition.Poll{Interval: 200 * time.Millisecond, Timeout: e.bound(2 * time.Minute)}, nil)
		raw, lerr := cs.CoreV1().Pods(ns).GetLogs(pod.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		succeeded := err == nil && pod.Status.Phase == corev1.PodSucceeded
		_ = e.c.Delete(context.WithoutCancel(ctx), pod)
		if err != nil {
			return "", err
		}
		if lerr != nil {
			return "", fmt.Errorf("read the client's log: %w", lerr)
		}
		if succeeded {
			return string(raw), nil
		}
		lastLog = strings.TrimSpace(string(raw))
	}
	return "", fmt.Errorf("10 client pods failed; the last said: %s", lastLog)
}
