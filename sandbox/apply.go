package sandbox

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/prebuilt"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/images"
	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/sandbox/image"
)

// container is the sandbox pod's one container.
const container = "lab"

// ReadyFile is what the pod writes once its lab is up and its proxy listens: the readiness
// probe's test. It lives in the container's /tmp, so a restarted container starts not ready.
const ReadyFile = "/tmp/cozylab-sandbox-ready"

// Tree is what of the checkout the pod's e2e needs: the platform tree and the release.
var Tree = []string{"packages", "release.json"}

// Apply makes the sandbox, or brings it back: it checks the parent cluster first (rights,
// storage, Pod Security), builds and pushes the image, creates what is missing (namespace,
// volume, pod) and waits until the in-pod lab is up, showing its progress. A pod already
// running the same image is left as is; one running another image is replaced (the volume, and
// so the lab, stays).
func (s *Sandbox) Apply(ctx context.Context) error {
	if s.o.Registry == "" {
		return fmt.Errorf("SANDBOX_REGISTRY is not set: name a registry the parent cluster's nodes pull from and this machine can push to (host[:port][/path])")
	}
	rep := s.o.Progress
	step := rep.Begin("Checking the parent cluster")
	if err := step.Done(s.check(ctx, step)); err != nil {
		return err
	}
	ref, err := s.pushImage(ctx)
	if err != nil {
		return err
	}
	step = rep.Begin("Creating the namespace, the lab's volume and the pod")
	if err := step.Done(s.create(ctx, ref, step)); err != nil {
		return err
	}
	step = rep.Begin(fmt.Sprintf("Waiting for the lab in pod %s/%s", s.o.Namespace, s.Name()))
	return step.Done(s.waitReady(ctx, step))
}

// check refuses, before anything is made, what would leave the pod unable to start: missing
// rights, no storage class, a namespace whose Pod Security forbids privileged pods.
func (s *Sandbox) check(ctx context.Context, step progress.Step) error {
	step.Status("checking rights")
	type need struct{ verb, resource, sub string }
	needs := []need{{"create", "pods", ""}, {"delete", "pods", ""}, {"create", "persistentvolumeclaims", ""},
		{"create", "pods", "exec"}, {"create", "pods", "portforward"}}
	ns, err := s.cs.CoreV1().Namespaces().Get(ctx, s.o.Namespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		needs = append(needs, need{"create", "namespaces", ""})
		ns = nil
	case apierrors.IsForbidden(err):
		ns = nil // a user without namespace rights may still use an existing one
	case err != nil:
		return fmt.Errorf("reach the parent cluster at %s: %w", s.cfg.Host, err)
	}
	var missing []string
	for _, n := range needs {
		ns := s.o.Namespace
		if n.resource == "namespaces" {
			ns = ""
		}
		r, err := s.cs.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Namespace: ns, Verb: n.verb, Resource: n.resource, Subresource: n.sub}}}, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("ask the parent cluster for our rights: %w", err)
		}
		if !r.Status.Allowed {
			what := n.resource
			if n.sub != "" {
				what += "/" + n.sub
			}
			missing = append(missing, n.verb+" "+what)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("the parent cluster does not let us %s in namespace %s: grant these (a Role and RoleBinding), or use another SANDBOX_NAMESPACE or SANDBOX_KUBECONFIG",
			strings.Join(missing, ", "), s.o.Namespace)
	}
	if ns != nil {
		if level := ns.Labels["pod-security.kubernetes.io/enforce"]; level != "" && level != "privileged" {
			return fmt.Errorf("namespace %s enforces Pod Security %q, which refuses the sandbox's privileged pod: label it pod-security.kubernetes.io/enforce=privileged or use another SANDBOX_NAMESPACE", s.o.Namespace, level)
		}
	}
	step.Status("checking storage")
	if s.o.StorageClass != "" {
		if _, err := s.cs.StorageV1().StorageClasses().Get(ctx, s.o.StorageClass, metav1.GetOptions{}); apierrors.IsNotFound(err) {
			return fmt.Errorf("SANDBOX_STORAGE_CLASS=%s: the parent cluster has no such StorageClass%s", s.o.StorageClass, s.classes(ctx))
		} else if err != nil && !apierrors.IsForbidden(err) {
			return err
		}
		return nil
	}
	if pvc, err := s.cs.CoreV1().PersistentVolumeClaims(s.o.Namespace).Get(ctx, s.Name(), metav1.GetOptions{}); err == nil && pvc.Status.Phase == corev1.ClaimBound {
		return nil // the lab's volume is there already
	}
	list, err := s.cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if apierrors.IsForbidden(err) {
		return nil
	} else if err != nil {
		return err
	}
	for _, c := range list.Items {
		if c.Annotations["storageclass.kubernetes.io/is-default-class"] == "true" {
			return nil
		}
	}
	return fmt.Errorf("the parent cluster has no default StorageClass for the lab's volume: set SANDBOX_STORAGE_CLASS%s", s.classes(ctx))
}

// classes lists the cluster's storage classes for an error message.
func (s *Sandbox) classes(ctx context.Context) string {
	list, err := s.cs.StorageV1().StorageClasses().List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) == 0 {
		return " (it has none: create one, or a PersistentVolume for a class you name)"
	}
	var names []string
	for _, c := range list.Items {
		names = append(names, c.Name)
	}
	return " (it has " + strings.Join(names, ", ") + ")"
}

// pushImage builds the programs and the image and pushes it; it returns the image's reference
// as the pod names it, tagged by the image's digest.
func (s *Sandbox) pushImage(ctx context.Context) (string, error) {
	rep := s.o.Progress
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("find the user cache directory (set XDG_CACHE_HOME or HOME): %w", err)
	}
	// One step per program: the sandbox's programs are built from this checkout.
	programs, err := prebuilt.Build(ctx, s.o.RepoRoot, filepath.Join(cache, "cozylab", "sandbox", "bin"), rep)
	if err != nil {
		return "", err
	}
	step := rep.Begin("Checking the binaries cache for the in-pod lab")
	tools, err := (&bincache.Cache{}).Ensure(ctx, InPodTools()...)
	if err = step.Done(err); err != nil {
		return "", err
	}
	for n, p := range tools {
		programs[n] = p
	}
	step = rep.Begin("Assembling the sandbox image")
	img, err := image.Build(ctx, image.Options{Programs: programs, RepoRoot: s.o.RepoRoot, Tree: Tree,
		Packages: realnode.Packages(), Links: realnode.IptablesNFTLinks, Debs: filepath.Join(cache, "cozylab", "debs")}, step)
	if err != nil {
		return "", step.Done(err)
	}
	digest, err := img.Digest()
	if err != nil {
		return "", step.Done(err)
	}
	step.Done(nil)
	ref := strings.TrimSuffix(s.o.Registry, "/") + "/cozylab-sandbox:" + digest.Hex[:16]
	step = rep.Begin("Pushing the sandbox image")
	return ref, step.Done(image.Push(ctx, img, ref, Insecure(s.o.Registry), step))
}

// InPodTools are the binaries cache's tools the in-pod local lab may run: its control plane,
// kwok and Flux as processes (kwok-only), its real node's kubelet and kube-proxy, and what the
// real node's images are made of (Flux, CoreDNS).
func InPodTools() []string {
	tools := append(local.Tools(true), local.Tools(false)...)
	for _, img := range images.Catalog() {
		if img.Tool != "" {
			tools = append(tools, img.Tool)
		}
	}
	slices.Sort(tools)
	return slices.Compact(tools)
}

// Insecure says whether the registry is spoken to over plain HTTP: a loopback or private
// address, or localhost (a lab's registry), never a registry by public name.
func Insecure(registry string) bool {
	ref, err := name.NewRegistry(strings.SplitN(registry, "/", 2)[0])
	if err != nil {
		return false
	}
	host := ref.RegistryStr()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && (ip.IsLoopback() || ip.IsPrivate())
}

// create makes what is missing: the namespace (Pod Security privileged), the volume and the pod.
func (s *Sandbox) create(ctx context.Context, ref string, step progress.Step) error {
	nsObj := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.o.Namespace, Labels: map[string]string{
		LabelManagedBy: ManagedBy, "pod-security.kubernetes.io/enforce": "privileged"}}}
	if _, err := s.cs.CoreV1().Namespaces().Create(ctx, nsObj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) && !apierrors.IsForbidden(err) {
		return fmt.Errorf("create namespace %s: %w", s.o.Namespace, err)
	}
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: s.Name(), Namespace: s.o.Namespace, Labels: s.labels()},
		Spec: corev1.PersistentVolumeClaimSpec{
			AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse(s.o.StorageSize)}},
		}}
	if s.o.StorageClass != "" {
		pvc.Spec.StorageClassName = ptr.To(s.o.StorageClass)
	}
	if _, err := s.cs.CoreV1().PersistentVolumeClaims(s.o.Namespace).Create(ctx, pvc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the lab's volume %s/%s: %w", s.o.Namespace, s.Name(), err)
	}
	pod := s.pod(ref)
	pods := s.cs.CoreV1().Pods(s.o.Namespace)
	if old, err := pods.Get(ctx, s.Name(), metav1.GetOptions{}); err == nil {
		if old.DeletionTimestamp == nil && old.Spec.Containers[0].Image == ref && old.Status.Phase != corev1.PodFailed && old.Status.Phase != corev1.PodSucceeded {
			step.Status("pod %s runs this image already", s.Name())
			return nil
		}
		step.Status("replacing pod %s (image %s → %s)", s.Name(), old.Spec.Containers[0].Image, ref)
		if err := s.deletePod(ctx); err != nil {
			return err
		}
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	// A dry run first: admission (Pod Security, policies) refuses a privileged pod here, with
	// its reason, before anything is made.
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}); err != nil {
		return fmt.Errorf("the parent cluster refuses the sandbox's privileged pod (it needs privileged pods in namespace %s): %w", s.o.Namespace, err)
	}
	if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("create pod %s/%s: %w", s.o.Namespace, s.Name(), err)
	}
	return nil
}

// pod is the sandbox's pod: privileged (the lab makes network namespaces, mounts and, with
// QEMU, uses /dev/kvm), its HOME on the lab's volume, ready once the in-pod lab is up.
func (s *Sandbox) pod(ref string) *corev1.Pod {
	env := []corev1.EnvVar{{Name: "LAB_NAME", Value: s.o.Lab}, {Name: "LAB_PROVIDER_IN_POD", Value: s.o.ProviderInPod}}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.Name(), Namespace: s.o.Namespace, Labels: s.labels()},
		Spec: corev1.PodSpec{
			RestartPolicy:                 corev1.RestartPolicyAlways,
			TerminationGracePeriodSeconds: ptr.To[int64](60),
			EnableServiceLinks:            ptr.To(false),
			AutomountServiceAccountToken:  ptr.To(false),
			NodeSelector:                  s.o.NodeSelector,
			Tolerations:                   s.o.Tolerations,
			Containers: []corev1.Container{{
				Name: container, Image: ref, ImagePullPolicy: corev1.PullIfNotPresent,
				Args: []string{"sandbox", "pod"}, Env: env,
				SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(true)},
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse(s.o.CPU), corev1.ResourceMemory: resource.MustParse(s.o.Memory)}},
				VolumeMounts: []corev1.VolumeMount{{Name: "lab", MountPath: image.Home}},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"/usr/bin/test", "-f", ReadyFile}}},
					PeriodSeconds: 2, TimeoutSeconds: 10, FailureThreshold: 1,
				},
			}},
			Volumes: []corev1.Volume{{Name: "lab", VolumeSource: corev1.VolumeSource{
				PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: s.Name()}}}},
		},
	}
}

// deletePod deletes the pod and waits until it is gone, so a new one can take its name and
// its volume.
func (s *Sandbox) deletePod(ctx context.Context) error {
	pods := s.cs.CoreV1().Pods(s.o.Namespace)
	if err := pods.Delete(ctx, s.Name(), metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete pod %s/%s: %w", s.o.Namespace, s.Name(), err)
	}
	return s.waitGone(ctx, "pod "+s.Name(), func(ctx context.Context) error {
		_, err := pods.Get(ctx, s.Name(), metav1.GetOptions{})
		return err
	})
}

// waitGone polls get until the object is not found, bounded by two minutes past the pod's
// grace period.
func (s *Sandbox) waitGone(ctx context.Context, what string, get func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	for {
		err := get(ctx)
		if apierrors.IsNotFound(err) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s is still there after 3 minutes (a finalizer, or a node that does not answer?)", what)
		case <-time.After(500 * time.Millisecond):
		}
	}
}
