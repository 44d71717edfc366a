package bincache

import "strings"

// Tool is one program built from the Go module proxy.
type Tool struct {
	// Name is the binary's file name and the key callers use.
	Name string
	// Module is the module that holds the main package, at Version.
	Module  string
	Package string
	Version string
	// Dir names the tools module (internal/bincache/tools/<Dir>) the tool is built in. Tools sharing a
	// Dir share their dependency graph and, in one cache, most compiled packages.
	Dir string
	// Replace is the tools module's replace set; every tool in a Dir has the same one.
	Replace []Replace
	Tags    []string
	// LDFlags are passed to the linker; "$BUILD_DATE" is replaced by the build time (RFC 3339).
	LDFlags []string
	// CGO builds with cgo enabled, which needs a C compiler.
	CGO bool
	// VersionArgs make the binary print its version; the output must contain VersionWant. Every
	// binary's build information must also name Module at Version; a tool that cannot print its
	// pinned version (controller-gen built as a dependency says "(devel)") leaves VersionWant empty.
	VersionArgs []string
	VersionWant string
}

// Replace is one replace directive of a tools module.
type Replace struct{ Old, New, Version string }

// Pinned versions. A bump is one line here plus `go get -tool` in the tools module (the
// bincache tests fail, naming the command, until the two agree).
const (
	KubernetesVersion = "v1.35.4"
	EtcdVersion       = "v3.6.6"
	KwokVersion       = "v0.7.0"
	// ControllerToolsVersion reproduces the shipped Flux 2.7 CRDs byte for byte.
	ControllerToolsVersion = "v0.19.0"
	// SourceControllerVersion and HelmControllerVersion are the Flux 2.7 pair: the newest the
	// module proxy serves whole (later source-controllers need refused pkg/artifact zips) that
	// serve source.toolkit.fluxcd.io/v1 (with ExternalArtifact) and helm.toolkit.fluxcd.io/v2.
	SourceControllerVersion = "v1.7.2"
	HelmControllerVersion   = "v1.4.3"
	// KustomizeControllerVersion is Flux 2.7's; NotificationControllerVersion is Flux 2.6's, the
	// newest the module proxy serves (it refuses every v1.7 and v1.8). Both run only in the
	// operator's Flux pod on a lab's real node (lab/images); operator/flux/versions.go names the
	// same versions.
	KustomizeControllerVersion    = "v1.7.3"
	NotificationControllerVersion = "v1.6.0"
	// CoreDNSVersion is the CoreDNS kubeadm v1.35 deploys (its constants.CoreDNSVersion).
	CoreDNSVersion = "v1.13.1"
)

// Tool names.
const (
	Etcd                   = "etcd"
	KubeAPIServer          = "kube-apiserver"
	KubeControllerManager  = "kube-controller-manager"
	KubeScheduler          = "kube-scheduler"
	Kubelet                = "kubelet"
	KubeProxy              = "kube-proxy"
	Kwok                   = "kwok"
	ControllerGen          = "controller-gen"
	SourceController       = "source-controller"
	HelmController         = "helm-controller"
	KustomizeController    = "kustomize-controller"
	NotificationController = "notification-controller"
	CoreDNS                = "coredns"
)

// Tools is the pinned table of every program the cache can build, in build order: the first
// Kubernetes binary pays for compiling the shared packages, the rest reuse them.
var Tools = []Tool{
	kubernetesTool(KubeAPIServer),
	kubernetesTool(KubeControllerManager),
	kubernetesTool(KubeScheduler),
	// The real node's: built after the control plane's, whose packages they mostly share.
	kubernetesTool(Kubelet),
	kubernetesTool(KubeProxy),
	{
		Name: Etcd, Module: "go.etcd.io/etcd/server/v3", Package: "go.etcd.io/etcd/server/v3",
		Version: EtcdVersion, Dir: "etcd",
		LDFlags:     []string{"-s", "-w", "-X", "go.etcd.io/etcd/api/v3/version.GitSHA=" + EtcdVersion},
		VersionArgs: []string{"--version"}, VersionWant: "etcd Version: " + strings.TrimPrefix(EtcdVersion, "v"),
	},
	{
		Name: Kwok, Module: "sigs.k8s.io/kwok", Package: "sigs.k8s.io/kwok/cmd/kwok",
		Version: KwokVersion, Dir: "kwok",
		LDFlags:     []string{"-s", "-w", "-X", "sigs.k8s.io/kwok/pkg/consts.Version=" + KwokVersion},
		VersionArgs: []string{"--version"}, VersionWant: KwokVersion,
	},
	{
		// Its tools module also requires the Flux API modules at the versions the operator
		// installs, so `mage gen` can generate their CRDs from import paths.
		Name: ControllerGen, Module: "sigs.k8s.io/controller-tools", Package: "sigs.k8s.io/controller-tools/cmd/controller-gen",
		Version: ControllerToolsVersion, Dir: "controller-gen", LDFlags: []string{"-s", "-w"},
	},
	// The Flux controllers have their main package at the module root and print no version (no
	// --version flag, nothing logged at start), so only their build information is checked.
	// Each tools module copies the controller's own replace directives (a dependency's are
	// ignored) and was seeded with the controller's go.sum before `go get -tool`: the checksum
	// database 404s on some of their dependencies.
	{
		Name: SourceController, Module: "github.com/fluxcd/source-controller", Package: "github.com/fluxcd/source-controller",
		Version: SourceControllerVersion, Dir: "source-controller", LDFlags: []string{"-s", "-w"},
		Replace: []Replace{
			{Old: "github.com/opencontainers/go-digest", New: "github.com/opencontainers/go-digest", Version: "v1.0.1-0.20220411205349-bde1400a84be"},
		},
	},
	{
		Name: HelmController, Module: "github.com/fluxcd/helm-controller", Package: "github.com/fluxcd/helm-controller",
		Version: HelmControllerVersion, Dir: "helm-controller", LDFlags: []string{"-s", "-w"},
		Replace: []Replace{
			{Old: "github.com/opencontainers/go-digest", New: "github.com/opencontainers/go-digest", Version: "v1.0.1-0.20231025023718-d50d2fec9c98"},
			{Old: "sigs.k8s.io/kustomize/api", New: "sigs.k8s.io/kustomize/api", Version: "v0.20.1"},
			{Old: "sigs.k8s.io/kustomize/kyaml", New: "sigs.k8s.io/kustomize/kyaml", Version: "v0.20.1"},
		},
	},
	{
		Name: KustomizeController, Module: "github.com/fluxcd/kustomize-controller", Package: "github.com/fluxcd/kustomize-controller",
		Version: KustomizeControllerVersion, Dir: "kustomize-controller", LDFlags: []string{"-s", "-w"},
		Replace: []Replace{
			{Old: "github.com/opencontainers/go-digest", New: "github.com/opencontainers/go-digest", Version: "v1.0.1-0.20220411205349-bde1400a84be"},
			{Old: "sigs.k8s.io/kustomize/api", New: "sigs.k8s.io/kustomize/api", Version: "v0.20.1"},
			{Old: "sigs.k8s.io/kustomize/kyaml", New: "sigs.k8s.io/kustomize/kyaml", Version: "v0.20.1"},
			{Old: "gopkg.in/yaml.v3", New: "gopkg.in/yaml.v3", Version: "v3.0.1"},
		},
	},
	{
		Name: NotificationController, Module: "github.com/fluxcd/notification-controller", Package: "github.com/fluxcd/notification-controller",
		Version: NotificationControllerVersion, Dir: "notification-controller", LDFlags: []string{"-s", "-w"},
		Replace: []Replace{
			{Old: "gopkg.in/yaml.v3", New: "gopkg.in/yaml.v3", Version: "v3.0.1"},
		},
	},
	{
		// The cluster DNS of a lab with a real node, with upstream's full plugin set and build
		// flags (its Makefile: CGO off, GitCommit stamped).
		Name: CoreDNS, Module: "github.com/coredns/coredns", Package: "github.com/coredns/coredns",
		Version: CoreDNSVersion, Dir: "coredns",
		LDFlags:     []string{"-s", "-w", "-X", "github.com/coredns/coredns/coremain.GitCommit=" + CoreDNSVersion},
		VersionArgs: []string{"-version"}, VersionWant: "CoreDNS-" + strings.TrimPrefix(CoreDNSVersion, "v"),
	},
}

// kubernetesStaging lists the staging modules k8s.io/kubernetes replaces with ./staging/src/...
// paths; the proxy's zip has no staging/, so the tools module points each at its published
// release instead (the same minor as the Kubernetes version, major 0).
var kubernetesStaging = []string{
	"api", "apiextensions-apiserver", "apimachinery", "apiserver", "cli-runtime", "client-go",
	"cloud-provider", "cluster-bootstrap", "code-generator", "component-base", "component-helpers",
	"controller-manager", "cri-api", "cri-client", "csi-translation-lib",
	"dynamic-resource-allocation", "endpointslice", "externaljwt", "kms", "kube-aggregator",
	"kube-controller-manager", "kube-proxy", "kube-scheduler", "kubectl", "kubelet", "metrics",
	"mount-utils", "pod-security-admission", "sample-apiserver", "sample-cli-plugin",
	"sample-controller",
}

func kubernetesTool(name string) Tool {
	staging := "v0" + strings.TrimPrefix(KubernetesVersion, "v1")
	replace := make([]Replace, 0, len(kubernetesStaging))
	for _, m := range kubernetesStaging {
		replace = append(replace, Replace{Old: "k8s.io/" + m, New: "k8s.io/" + m, Version: staging})
	}
	major, minor, _ := strings.Cut(strings.TrimPrefix(KubernetesVersion, "v"), ".")
	minor, _, _ = strings.Cut(minor, ".")
	// Without these the binaries report v0.0.0-master and charts with kubeVersion refuse them;
	// both packages carry the version, as upstream's hack/lib/version.sh sets them.
	ld := []string{"-s", "-w"}
	for _, p := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		for _, kv := range []string{
			"gitVersion=" + KubernetesVersion, "gitMajor=" + major, "gitMinor=" + minor,
			"gitTreeState=clean", "gitCommit=" + KubernetesVersion, "buildDate=$BUILD_DATE",
		} {
			ld = append(ld, "-X", p+"."+kv)
		}
	}
	return Tool{
		Name: name, Module: "k8s.io/kubernetes", Package: "k8s.io/kubernetes/cmd/" + name,
		Version: KubernetesVersion, Dir: "kubernetes", Replace: replace,
		Tags: []string{"selinux", "notest", "grpcnotrace"}, LDFlags: ld,
		VersionArgs: []string{"--version"}, VersionWant: "Kubernetes " + KubernetesVersion,
	}
}

// Lookup returns the tool named name.
func Lookup(name string) (Tool, bool) {
	for _, t := range Tools {
		if t.Name == name {
			return t, true
		}
	}
	return Tool{}, false
}

// ModuleDirs lists the tools module directories (tools/<dir>) the table uses, in table order.
func ModuleDirs() []string {
	var dirs []string
	seen := map[string]bool{}
	for _, t := range Tools {
		if !seen[t.Dir] {
			seen[t.Dir] = true
			dirs = append(dirs, t.Dir)
		}
	}
	return dirs
}
