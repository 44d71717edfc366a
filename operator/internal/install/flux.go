package install

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/flux"
	fluxcrds "github.com/cozylab/cozylab/operator/flux/crds"
)

// APIEndpoint is how pods on the host network reach the API server when the in-cluster service
// cannot be used yet (Talos KubePrism localhost:7445, or a generic cluster's endpoint). Empty
// fields leave the manifests alone.
type APIEndpoint struct{ Host, Port string }

// FluxOptions adjust the embedded Flux distribution to the cluster.
type FluxOptions struct {
	// Endpoint is the API server the host-network controllers use.
	Endpoint APIEndpoint
	// RequeueDependency, when set, replaces the --requeue-dependency of the controllers that
	// have one (source- and helm-controller; 30s as shipped).
	RequeueDependency time.Duration
}

// Flux installs the Flux distribution in two stages: its CRDs, waited for until Established,
// then the namespace, RBAC, services and controllers. It does not wait for the controllers to
// run: their readiness is the platform's business, and a cluster without a CNI yet must still
// get them scheduled.
func Flux(ctx context.Context, c client.WithWatch, o FluxOptions, timeout time.Duration) error {
	if err := CRDs(ctx, c, fluxcrds.FS, nil, timeout); err != nil {
		return fmt.Errorf("install Flux: %w", err)
	}
	objs := FluxObjects(o)
	if err := ApplyObjects(ctx, c, objs...); err != nil {
		return fmt.Errorf("install Flux: %w", err)
	}
	return nil
}

// FluxObjects are the Flux distribution's objects (not its CRDs) as o adjusts them.
func FluxObjects(o FluxOptions) []client.Object {
	objs := flux.Objects()
	for _, obj := range objs {
		if d, ok := obj.(*appsv1.Deployment); ok {
			withAPIEndpoint(&d.Spec.Template.Spec, o.Endpoint)
			if o.RequeueDependency > 0 {
				withRequeueDependency(&d.Spec.Template.Spec, o.RequeueDependency)
			}
		}
	}
	return objs
}

// withRequeueDependency sets --requeue-dependency=d on every container that has the flag.
func withRequeueDependency(spec *corev1.PodSpec, d time.Duration) {
	const flag = "--requeue-dependency="
	for i := range spec.Containers {
		for j, a := range spec.Containers[i].Args {
			if strings.HasPrefix(a, flag) {
				spec.Containers[i].Args[j] = flag + d.String()
			}
		}
	}
}

// withAPIEndpoint upserts KUBERNETES_SERVICE_HOST/PORT into every container of a host-network
// pod spec.
func withAPIEndpoint(spec *corev1.PodSpec, e APIEndpoint) {
	if !spec.HostNetwork {
		return
	}
	for _, kv := range [][2]string{{"KUBERNETES_SERVICE_HOST", e.Host}, {"KUBERNETES_SERVICE_PORT", e.Port}} {
		if kv[1] == "" {
			continue
		}
		for _, cs := range [][]corev1.Container{spec.InitContainers, spec.Containers} {
			for i := range cs {
				cs[i].Env = upsertEnv(cs[i].Env, kv[0], kv[1])
			}
		}
	}
}

func upsertEnv(env []corev1.EnvVar, name, value string) []corev1.EnvVar {
	for i := range env {
		if env[i].Name == name {
			env[i] = corev1.EnvVar{Name: name, Value: value}
			return env
		}
	}
	return append(env, corev1.EnvVar{Name: name, Value: value})
}
