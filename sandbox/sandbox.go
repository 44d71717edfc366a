// Package sandbox runs a lab inside one privileged pod of a parent cluster and reaches it from
// here: apply (image, namespace, volume, pod; waits for the in-pod lab), status, delete, exec,
// the e2e in the pod with its reports copied back, and a dialer into the in-pod lab's network
// through one port-forward connection (for the proxy and login).
//
// The pod runs `cozylab sandbox pod` (Pod): it brings the lab up with the provider chosen in
// the pod, its state and caches on a PersistentVolumeClaim, so a new pod resumes the same lab,
// and serves the lab proxy on the pod's loopback, where only a port-forward reaches it.
package sandbox

import (
	"cmp"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/internal/progress"
)

// Labels every object the sandbox creates carries; delete removes what has them.
const (
	LabelManagedBy = "app.kubernetes.io/managed-by"
	ManagedBy      = "cozylab"
	LabelSandbox   = "cozylab.io/sandbox"
)

// DefaultNamespace is the parent cluster's namespace of the sandboxes unless told otherwise.
const DefaultNamespace = "cozylab-sandbox"

// ProxyPort is where the pod's proxy listens, on the pod's loopback.
const ProxyPort = 1080

// Options are a sandbox's settings (SANDBOX_*, LAB_NAME); empty fields take defaults.
type Options struct {
	// Kubeconfig is the parent cluster's kubeconfig; the usual rules (KUBECONFIG, ~/.kube/config,
	// its current context) when empty.
	Kubeconfig string
	// Namespace holds the sandbox's objects; DefaultNamespace when empty.
	Namespace string
	// Lab is the lab's name, in the pod and in the objects' names; "dev" when empty.
	Lab string
	// Registry is where the sandbox image is pushed and where the parent's nodes pull it from
	// ("registry.example.com/team", "10.0.0.5:5000"); needed by Apply.
	Registry string
	// ProviderInPod is the in-pod lab's provider: auto (QEMU when a guest runs under KVM in the
	// pod, else local), local or qemu.
	ProviderInPod string
	// CPU and Memory are the pod's requests; 1 CPU and 4Gi when empty.
	CPU, Memory string
	// StorageClass and StorageSize shape the lab's volume; the cluster's default class and 20Gi
	// when empty.
	StorageClass, StorageSize string
	// NodeSelector and Tolerations place the pod.
	NodeSelector map[string]string
	Tolerations  []corev1.Toleration
	// KeepPVC keeps the lab's volume on Delete.
	KeepPVC bool
	// RepoRoot is the checkout the image is built from.
	RepoRoot string
	// Progress receives the steps; progress.Discard when nil.
	Progress progress.Reporter
	// Ready bounds the wait for the in-pod lab after the pod started; 20 minutes when zero.
	Ready time.Duration
}

// Sandbox is one sandbox in a parent cluster.
type Sandbox struct {
	o   Options
	cfg *rest.Config
	cs  kubernetes.Interface
}

// Open connects to the parent cluster. A missing kubeconfig is an error saying what to set.
func Open(o Options) (*Sandbox, error) {
	o.Namespace = cmp.Or(o.Namespace, DefaultNamespace)
	o.Lab = cmp.Or(o.Lab, "dev")
	o.CPU = cmp.Or(o.CPU, "1")
	o.Memory = cmp.Or(o.Memory, "4Gi")
	o.StorageSize = cmp.Or(o.StorageSize, "20Gi")
	o.Ready = cmp.Or(o.Ready, 20*time.Minute)
	if o.Progress == nil {
		o.Progress = progress.Discard
	}
	for what, q := range map[string]string{"SANDBOX_CPU": o.CPU, "SANDBOX_MEMORY": o.Memory, "SANDBOX_STORAGE_SIZE": o.StorageSize} {
		if _, err := resource.ParseQuantity(q); err != nil {
			return nil, fmt.Errorf("%s=%q is not a quantity (such as 2, 500m, 4Gi): %w", what, q, err)
		}
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	if o.Kubeconfig != "" {
		if _, err := os.Stat(o.Kubeconfig); err != nil {
			return nil, fmt.Errorf("SANDBOX_KUBECONFIG=%s: %w", o.Kubeconfig, err)
		}
		rules.ExplicitPath = o.Kubeconfig
	}
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, errors.New("no parent cluster: set SANDBOX_KUBECONFIG to its kubeconfig, or KUBECONFIG / ~/.kube/config with a current context")
		}
		return nil, fmt.Errorf("the parent cluster's kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return &Sandbox{o: o, cfg: cfg, cs: cs}, nil
}

// Name is the pod's and the volume's name.
func (s *Sandbox) Name() string { return "cozylab-" + s.o.Lab }

// Namespace is where the sandbox lives.
func (s *Sandbox) Namespace() string { return s.o.Namespace }

// Config is the parent cluster's client configuration.
func (s *Sandbox) Config() *rest.Config { return s.cfg }

func (s *Sandbox) labels() map[string]string {
	return map[string]string{LabelManagedBy: ManagedBy, LabelSandbox: s.o.Lab}
}

func (s *Sandbox) selector() string {
	return LabelManagedBy + "=" + ManagedBy + "," + LabelSandbox + "=" + s.o.Lab
}

// ParseNodeSelector reads "key=value,key2=value2".
func ParseNodeSelector(v string) (map[string]string, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	out := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("SANDBOX_NODE_SELECTOR: %q is not key=value", kv)
		}
		out[k] = val
	}
	return out, nil
}

// ParseTolerations reads "key=value:Effect,key:Effect,*" ("*" tolerates every taint).
func ParseTolerations(v string) ([]corev1.Toleration, error) {
	if strings.TrimSpace(v) == "" {
		return nil, nil
	}
	var out []corev1.Toleration
	for _, t := range strings.Split(v, ",") {
		t = strings.TrimSpace(t)
		if t == "*" {
			out = append(out, corev1.Toleration{Operator: corev1.TolerationOpExists})
			continue
		}
		kv, effect, _ := strings.Cut(t, ":")
		k, val, hasValue := strings.Cut(kv, "=")
		if k == "" {
			return nil, fmt.Errorf("SANDBOX_TOLERATIONS: %q: want key=value:Effect, key:Effect or *", t)
		}
		tol := corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffect(effect)}
		if hasValue {
			tol.Operator, tol.Value = corev1.TolerationOpEqual, val
		}
		switch tol.Effect {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			return nil, fmt.Errorf("SANDBOX_TOLERATIONS: %q: effect %q is not NoSchedule, PreferNoSchedule or NoExecute", t, effect)
		}
		out = append(out, tol)
	}
	return out, nil
}

// ReportDir is where Test copies the pod's reports: _out/sandbox/<lab> under dir.
func (s *Sandbox) ReportDir(dir string) string { return filepath.Join(dir, "_out", "sandbox", s.o.Lab) }
