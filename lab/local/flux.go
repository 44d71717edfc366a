package local

import (
	"github.com/cozylab/cozylab/lab/bincache"
	"github.com/cozylab/cozylab/lab/process"
)

// FluxNamespace is the namespace the local Flux controllers run "in" (RUNTIME_NAMESPACE).
const FluxNamespace = "flux-system"

// FluxAddrs are the loopback addresses of one Flux controller run outside a cluster: the
// defaults (":8080", ":9440") would collide between controllers.
type FluxAddrs struct {
	Metrics, Health string
	// Storage serves source-controller's artifacts (also advertised in artifact URLs).
	Storage string
}

// fluxArgs are what every Flux controller needs outside a cluster: no leader election, no event
// forwarding, its own metrics and health addresses. The kubeconfig comes through KUBECONFIG:
// the controllers have no flag for it.
func fluxArgs(a FluxAddrs) []string {
	return []string{"--watch-all-namespaces=true", "--enable-leader-election=false", "--events-addr=",
		"--log-encoding=console", "--metrics-addr=" + a.Metrics, "--health-addr=" + a.Health}
}

func fluxEnv(kubeconfig string) []string {
	return []string{"KUBECONFIG=" + kubeconfig, "RUNTIME_NAMESPACE=" + FluxNamespace}
}

// SourceControllerSpec runs source-controller with its artifact storage in storageDir (which
// must exist: source-controller refuses a missing path) served on a.Storage.
func SourceControllerSpec(bin, kubeconfig, storageDir string, a FluxAddrs) process.Spec {
	return process.Spec{Name: bincache.SourceController, Path: bin, Env: fluxEnv(kubeconfig),
		Args: append(fluxArgs(a), "--storage-path="+storageDir, "--storage-addr="+a.Storage, "--storage-adv-addr="+a.Storage)}
}

// HelmControllerSpec runs helm-controller with the ExternalArtifact feature gate, which the
// operator's HelmReleases need (their charts are ExternalArtifacts).
func HelmControllerSpec(bin, kubeconfig string, a FluxAddrs) process.Spec {
	return process.Spec{Name: bincache.HelmController, Path: bin, Env: fluxEnv(kubeconfig),
		Args: append(fluxArgs(a), "--feature-gates=ExternalArtifact=true")}
}
