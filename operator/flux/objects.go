package flux

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Namespace is where the operator installs Flux, as upstream does.
const Namespace = "cozy-fluxcd"

// Ports of the controllers. The pod uses the host network, so every port is distinct.
const (
	SourceControllerStoragePort = 9790
	SourceWatcherStoragePort    = 9691
)

type ports struct{ metrics, health int32 }

var controllerPorts = map[string]ports{
	SourceController.Name:       {8080, 9440},
	HelmController.Name:         {8081, 9441},
	SourceWatcher.Name:          {8082, 9442},
	KustomizeController.Name:    {8083, 9443},
	NotificationController.Name: {8084, 9444},
}

// NotificationEventsPort receives the other controllers' events.
const NotificationEventsPort = 9690

// Objects returns the Flux distribution except its CRDs (see package crds): the namespace, a
// service account bound to cluster-admin, the services in front of the two artifact stores, and
// one Deployment running every controller (source, helm, source-watcher, kustomize,
// notification) in one host-network pod, so Flux works before any CNI
// is up (the platform installs the CNI through Flux).
func Objects() []client.Object {
	labels := map[string]string{"app.kubernetes.io/name": "flux", "app.kubernetes.io/part-of": "cozystack"}
	return []client.Object{
		&corev1.Namespace{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Namespace"},
			ObjectMeta: metav1.ObjectMeta{Name: Namespace, Labels: map[string]string{
				"pod-security.kubernetes.io/enforce": "privileged",
				"app.kubernetes.io/part-of":          "cozystack",
			}},
		},
		&corev1.ServiceAccount{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ServiceAccount"},
			ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: Namespace, Labels: labels},
		},
		&rbacv1.ClusterRoleBinding{
			TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
			ObjectMeta: metav1.ObjectMeta{Name: "flux", Labels: labels},
			RoleRef:    rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "ClusterRole", Name: "cluster-admin"},
			Subjects:   []rbacv1.Subject{{Kind: "ServiceAccount", Name: "flux", Namespace: Namespace}},
		},
		service("flux", "http-sc", labels),
		service("source-watcher", "http-sw", labels),
		deployment(labels),
	}
}

func service(name, targetPort string, labels map[string]string) *corev1.Service {
	return &corev1.Service{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Service"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: Namespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app.kubernetes.io/name": "flux"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString(targetPort)}},
		},
	}
}

func deployment(labels map[string]string) *appsv1.Deployment {
	one := int32(1)
	return &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "flux", Namespace: Namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app.kubernetes.io/name": "flux"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					ServiceAccountName: "flux",
					HostNetwork:        true,
					DNSPolicy:          corev1.DNSClusterFirstWithHostNet,
					PriorityClassName:  "system-cluster-critical",
					Tolerations: []corev1.Toleration{
						{Key: "node.kubernetes.io/not-ready", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
						{Key: "node.kubernetes.io/unreachable", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule},
						{Key: "node.cilium.io/agent-not-ready", Operator: corev1.TolerationOpExists},
						{Key: "node.cloudprovider.kubernetes.io/uninitialized", Operator: corev1.TolerationOpExists},
					},
					Volumes: []corev1.Volume{
						{Name: "data", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
						{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
					},
					Containers: []corev1.Container{
						container(SourceController, "http-sc", SourceControllerStoragePort,
							"--storage-adv-addr=flux.$(RUNTIME_NAMESPACE).svc", "--concurrent=5", "--requeue-dependency=30s"),
						container(HelmController, "", 0,
							"--feature-gates=ExternalArtifact=true", "--concurrent=5", "--requeue-dependency=30s"),
						container(SourceWatcher, "http-sw", SourceWatcherStoragePort,
							"--storage-adv-addr=source-watcher.$(RUNTIME_NAMESPACE).svc", "--concurrent=20"),
						container(KustomizeController, "", 0, "--feature-gates=ExternalArtifact=true", "--concurrent=5"),
						container(NotificationController, "", 0,
							fmt.Sprintf("--events-addr=:%d", NotificationEventsPort), "--receiverAddr=:9292"),
					},
				},
			},
		},
	}
}

// container is controller c's container. Each mounts its own subdirectory of the pod's data
// volume at /data (the kubelet creates it), which is where the two with an artifact store
// (storagePort set) keep it: source-controller refuses a storage path that does not exist.
func container(c Component, portName string, storagePort int32, extra ...string) corev1.Container {
	p := controllerPorts[c.Name]
	args := []string{
		"--watch-all-namespaces", "--enable-leader-election=false", "--log-encoding=json",
		fmt.Sprintf("--metrics-addr=:%d", p.metrics), fmt.Sprintf("--health-addr=:%d", p.health),
	}
	if c.Name != NotificationController.Name {
		args = append(args, fmt.Sprintf("--events-addr=http://localhost:%d/", NotificationEventsPort))
	}
	if storagePort != 0 {
		args = append(args, fmt.Sprintf("--storage-addr=:%d", storagePort), "--storage-path=/data")
	}
	args = append(args, extra...)
	ctr := corev1.Container{
		Name:  c.Name,
		Image: c.Image,
		Args:  args,
		Env: []corev1.EnvVar{
			{Name: "RUNTIME_NAMESPACE", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"}}},
			// All controllers share the pod: artifacts are fetched over localhost.
			{Name: "SOURCE_CONTROLLER_LOCALHOST", Value: fmt.Sprintf("localhost:%d", SourceControllerStoragePort)},
			{Name: "SOURCE_WATCHER_LOCALHOST", Value: fmt.Sprintf("localhost:%d", SourceWatcherStoragePort)},
		},
		Ports: []corev1.ContainerPort{
			{Name: "metrics-" + short(c.Name), ContainerPort: p.metrics},
			{Name: "health-" + short(c.Name), ContainerPort: p.health},
		},
		StartupProbe:   startupProbe(p.health),
		ReadinessProbe: probe("/readyz", p.health),
		LivenessProbe:  probe("/healthz", p.health),
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("64Mi"),
		}},
		VolumeMounts: []corev1.VolumeMount{{Name: "data", MountPath: "/data", SubPath: c.Name}, {Name: "tmp", MountPath: "/tmp", SubPath: c.Name}},
	}
	if storagePort != 0 {
		ctr.Ports = append(ctr.Ports, corev1.ContainerPort{Name: portName, ContainerPort: storagePort})
	}
	return ctr
}

// ProbeTimeoutSeconds is how long each Flux probe waits for an answer. Kubernetes' default, one
// second, is less than a starved node gives a busy controller (three TCG guests on two host
// cores), where every restart delays the platform. Five seconds, three misses ten seconds apart,
// still restarts a controller that really hangs within a minute. (The restarts seen while the
// controllers started were "connection refused": that is the startup probe's part.)
const ProbeTimeoutSeconds = 5

// probe is an HTTP probe of path on a controller's health port.
func probe(path string, port int32) *corev1.Probe {
	return &corev1.Probe{
		ProbeHandler:   corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstr.FromInt32(port)}},
		TimeoutSeconds: ProbeTimeoutSeconds, PeriodSeconds: 10, FailureThreshold: 3,
	}
}

// StartupSeconds is how long a controller may take to open its health port before the kubelet
// restarts it. The liveness probe only starts once the startup probe passed: without it, a
// controller that had not opened its port within 30 s of its start (three misses 10 s apart) was
// killed as it started, on emulated nodes again and again (notification-controller three times).
const StartupSeconds = 300

// startupProbe asks /healthz every 5 s until it answers, for up to StartupSeconds.
func startupProbe(port int32) *corev1.Probe {
	p := probe("/healthz", port)
	p.PeriodSeconds, p.FailureThreshold = 5, StartupSeconds/5
	return p
}

// short shortens a controller name for a port name (at most 15 characters).
func short(name string) string {
	return strings.NewReplacer("source-controller", "sc", "helm-controller", "hc", "source-watcher", "sw",
		"kustomize-controller", "kc", "notification-controller", "nc").Replace(name)
}
