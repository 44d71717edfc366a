package clusterdns

import (
	"context"
	"fmt"
	"net/netip"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/condition"
)

// Names of CoreDNS's objects, as kubeadm names them; the Service keeps kube-dns's name, which
// charts and tools look for.
const (
	Namespace   = "kube-system"
	Name        = "coredns"
	ServiceName = "kube-dns"
)

// DefaultDomain is the cluster domain served when Options name none, kubeadm's default.
const DefaultDomain = "cluster.local"

// FieldOwner is the field manager the lab applies its objects as.
const FieldOwner = "cozylab-lab"

// Options describe one lab's CoreDNS.
type Options struct {
	// Image is CoreDNS's image reference, as the nodes pull it
	// (images.Lookup(images.CoreDNS).Upstream).
	Image string
	// ServiceIP is the kube-dns Service's ClusterIP: the nameserver the kubelets give pods.
	ServiceIP netip.Addr
	// Domains are the cluster domains served; DefaultDomain when empty.
	Domains []string
	// Place, when set, narrows where the pod may run (the local lab pins it to its real node).
	Place func(*corev1.PodSpec)
}

// Corefile serves the cluster's names in domains (DefaultDomain when none) and their reverse
// zones; there is no upstream to forward the rest to, so other names fail fast.
func Corefile(domains []string) string {
	if len(domains) == 0 {
		domains = []string{DefaultDomain}
	}
	return `.:53 {
    errors
    health :8080
    ready :8181
    kubernetes ` + strings.Join(domains, " ") + ` in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
    }
    cache 30
    loop
    loadbalance
}
`
}

// Objects are CoreDNS as kubeadm deploys it: service account, RBAC, Corefile, Deployment and
// the kube-dns Service at o.ServiceIP.
func Objects(o Options) []client.Object {
	labels := map[string]string{"k8s-app": "kube-dns"}
	pod := corev1.PodSpec{
		ServiceAccountName: Name,
		PriorityClassName:  "system-cluster-critical",
		DNSPolicy:          corev1.DNSDefault,
		Containers: []corev1.Container{{
			Name: Name, Image: o.Image, Args: []string{"-conf", "/etc/coredns/Corefile"},
			Ports: []corev1.ContainerPort{
				{Name: "dns", ContainerPort: 53, Protocol: corev1.ProtocolUDP},
				{Name: "dns-tcp", ContainerPort: 53, Protocol: corev1.ProtocolTCP},
			},
			VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/coredns", ReadOnly: true}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromInt32(8181)}},
				PeriodSeconds: 2},
			LivenessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/health", Port: intstr.FromInt32(8080)}},
				PeriodSeconds: 10, FailureThreshold: 5},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: ptr.To(false), ReadOnlyRootFilesystem: ptr.To(true)},
		}},
		Volumes: []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{
			ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: Name}}}}},
	}
	if o.Place != nil {
		o.Place(&pod)
	}
	return []client.Object{
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace}},
		&rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"}, Rules: []rbacv1.PolicyRule{
			{APIGroups: []string{""}, Resources: []string{"endpoints", "services", "pods", "namespaces"}, Verbs: []string{"list", "watch"}},
			{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: []string{"list", "watch"}},
		}},
		&rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "system:coredns"},
			RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "system:coredns"},
			Subjects: []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: Name, Namespace: Namespace}}},
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace}, Data: map[string]string{"Corefile": Corefile(o.Domains)}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: Name, Namespace: Namespace, Labels: labels}, Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: pod},
		}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: ServiceName, Namespace: Namespace, Labels: labels}, Spec: corev1.ServiceSpec{
			Selector: labels, ClusterIP: o.ServiceIP.String(),
			Ports: []corev1.ServicePort{
				{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromInt32(53)},
				{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(53)},
			},
		}},
	}
}

// Apply server-side applies CoreDNS's objects, so a resumed lab converges on them.
func Apply(ctx context.Context, c client.Client, o Options) error {
	if o.Image == "" || !o.ServiceIP.IsValid() {
		return fmt.Errorf("apply CoreDNS: image %q and Service IP %q must both be set", o.Image, o.ServiceIP)
	}
	for _, obj := range Objects(o) {
		if svc, ok := obj.(*corev1.Service); ok {
			if err := releaseOrphanedIP(ctx, c, svc); err != nil {
				return err
			}
		}
		if err := ApplyObject(ctx, c, obj); err != nil {
			return err
		}
	}
	return nil
}

// releaseOrphanedIP deletes the IPAddress of svc's ClusterIP when svc does not exist but the
// IPAddress names it as its parent. The API server allocates that IPAddress before it stores the
// Service, so a lab killed between the two (the API server ends with it) leaves the IP taken by
// nobody, and creating the Service is refused ("provided IP is already allocated") until the API
// server's repair loop frees it minutes later. An IPAddress held by another Service is left
// alone: the create then fails naming that Service.
func releaseOrphanedIP(ctx context.Context, c client.Client, svc *corev1.Service) error {
	if svc.Spec.ClusterIP == "" || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		return nil
	}
	err := c.Get(ctx, client.ObjectKeyFromObject(svc), &corev1.Service{})
	if !apierrors.IsNotFound(err) {
		return client.IgnoreNotFound(err) // the Service exists (or the error says why we cannot tell)
	}
	ip := &networkingv1.IPAddress{}
	if err := c.Get(ctx, client.ObjectKey{Name: svc.Spec.ClusterIP}, ip); err != nil {
		if apierrors.IsNotFound(err) || meta.IsNoMatchError(err) {
			return nil // free, or an API server without IPAddress objects
		}
		return fmt.Errorf("look up IPAddress %s for Service %s: %w", svc.Spec.ClusterIP, client.ObjectKeyFromObject(svc), err)
	}
	parent := ip.Spec.ParentRef
	if parent == nil {
		return nil // not a Service's: the create says what holds it
	}
	if parent.Group != "" || parent.Resource != "services" || parent.Namespace != svc.Namespace || parent.Name != svc.Name {
		return fmt.Errorf("ClusterIP %s of Service %s is held by %s %s/%s: delete that or choose another address for the cluster DNS",
			svc.Spec.ClusterIP, client.ObjectKeyFromObject(svc), parent.Resource, parent.Namespace, parent.Name)
	}
	if err := c.Delete(ctx, ip, client.Preconditions{UID: &ip.UID}); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("release IPAddress %s left by Service %s, which no longer exists: %w", svc.Spec.ClusterIP, client.ObjectKeyFromObject(svc), err)
	}
	return nil
}

// ApplyObject server-side applies o as the lab (FieldOwner), taking over fields another
// manager set.
func ApplyObject(ctx context.Context, c client.Client, o client.Object) error {
	gvk, err := c.GroupVersionKindFor(o)
	if err != nil {
		return err
	}
	raw, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
	if err != nil {
		return fmt.Errorf("convert %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(o), err)
	}
	u := &unstructured.Unstructured{Object: raw}
	u.SetGroupVersionKind(gvk)
	unstructured.RemoveNestedField(u.Object, "metadata", "creationTimestamp")
	unstructured.RemoveNestedField(u.Object, "status")
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply %s %s: %w", gvk.Kind, client.ObjectKeyFromObject(o), err)
	}
	return nil
}

// Available holds once CoreDNS's Deployment, at its current generation, is Available with
// every replica updated.
func Available(c client.Client) condition.Condition {
	return condition.Condition{Name: fmt.Sprintf("Deployment %s/%s Available", Namespace, Name), Check: func(ctx context.Context) error {
		d := &appsv1.Deployment{}
		if err := c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: Name}, d); err != nil {
			return err
		}
		return deploymentAvailable(d)
	}}
}

// deploymentAvailable says why d is not Available yet, or nil.
func deploymentAvailable(d *appsv1.Deployment) error {
	if d.Status.ObservedGeneration < d.Generation {
		return fmt.Errorf("generation %d not observed yet", d.Generation)
	}
	for _, cond := range d.Status.Conditions {
		if cond.Type == appsv1.DeploymentAvailable && cond.Status == corev1.ConditionTrue && d.Status.UpdatedReplicas == ptr.Deref(d.Spec.Replicas, 1) {
			return nil
		}
	}
	return fmt.Errorf("%d of %d replicas available", d.Status.AvailableReplicas, ptr.Deref(d.Spec.Replicas, 1))
}
