package v1alpha1

import (
	"github.com/fluxcd/pkg/apis/kustomize"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// PackageSource describes where a package's charts live (a Flux GitRepository or
// OCIRepository) and the variants it offers, each a set of components.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=pks
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Variants",type=string,JSONPath=`.status.variants`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type PackageSource struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PackageSourceSpec   `json:"spec,omitempty"`
	Status PackageSourceStatus `json:"status,omitempty"`
}

// PackageSourceSpec is the source and the variants.
type PackageSourceSpec struct {
	// SourceRef is the Flux source holding the charts; without it no artifacts are generated.
	// +optional
	SourceRef *PackageSourceRef `json:"sourceRef,omitempty"`

	// Variants offered to Packages; the first with a given name wins.
	// +optional
	Variants []Variant `json:"variants,omitempty"`
}

// PackageSourceRef points at a Flux source.
type PackageSourceRef struct {
	// Kind of the Flux source.
	// +kubebuilder:validation:Enum=GitRepository;OCIRepository
	Kind string `json:"kind"`
	// Name of the Flux source; also the alias of the ArtifactGenerator source.
	Name string `json:"name"`
	// Namespace of the Flux source.
	Namespace string `json:"namespace"`
	// Path is the base path inside the source. Unset: "packages" for a GitRepository, the root
	// for an OCIRepository; "/" is the root.
	// +optional
	Path string `json:"path,omitempty"`
}

// Variant is one installable shape of a package.
type Variant struct {
	// Name of the variant.
	Name string `json:"name"`
	// DependsOn lists other packages (Package/PackageSource names) this variant needs first.
	// +optional
	DependsOn []string `json:"dependsOn,omitempty"`
	// Libraries are library charts components of this variant may vendor.
	// +optional
	Libraries []Library `json:"libraries,omitempty"`
	// Components of the variant, in order.
	// +optional
	Components []Component `json:"components,omitempty"`
}

// Library is a library chart.
type Library struct {
	// Name of the library; the last segment of Path when empty.
	// +optional
	Name string `json:"name,omitempty"`
	// Path of the library chart relative to the base path.
	Path string `json:"path"`
}

// Component is one chart of a variant.
type Component struct {
	// Name of the component.
	Name string `json:"name"`
	// Path of the chart directory relative to the base path.
	Path string `json:"path"`
	// Install makes the operator install the chart as a HelmRelease; without it the chart is only
	// built as an artifact (for charts used through an ApplicationDefinition).
	// +optional
	Install *ComponentInstall `json:"install,omitempty"`
	// Libraries names variant libraries to vendor under charts/<name>/.
	// +optional
	Libraries []string `json:"libraries,omitempty"`
	// ValuesFiles are files in the chart directory merged, in order, into its values.yaml.
	// +optional
	ValuesFiles []string `json:"valuesFiles,omitempty"`
}

// ComponentInstall says how a component becomes a HelmRelease.
type ComponentInstall struct {
	// ReleaseName is the HelmRelease name; the component name when empty.
	// +optional
	ReleaseName string `json:"releaseName,omitempty"`
	// Namespace of the HelmRelease; required at reconcile time.
	// +optional
	Namespace string `json:"namespace,omitempty"`
	// Privileged labels the namespace for privileged pods (pod security "privileged").
	// +optional
	Privileged bool `json:"privileged,omitempty"`
	// DependsOn names installable components of the same variant to install first.
	// +optional
	DependsOn []string `json:"dependsOn,omitempty"`
	// UpgradeCRDs is the HelmRelease's spec.upgrade.crds policy.
	// +optional
	// +kubebuilder:validation:Enum=Skip;Create;CreateReplace
	UpgradeCRDs string `json:"upgradeCRDs,omitempty"`
	// WaitStrategy is the HelmRelease's spec.waitStrategy.name.
	// +optional
	// +kubebuilder:validation:Enum=poller;legacy
	WaitStrategy string `json:"waitStrategy,omitempty"`
	// HealthCheckExprs are copied to the HelmRelease's spec.healthCheckExprs (CEL health checks
	// of custom resources the chart renders; they need the poller wait strategy).
	// +optional
	HealthCheckExprs []kustomize.CustomHealthCheck `json:"healthCheckExprs,omitempty"`
}

// PackageSourceStatus is the observed state of a PackageSource.
type PackageSourceStatus struct {
	// Variants are the variant names, comma-separated, in spec order.
	// +optional
	Variants string `json:"variants,omitempty"`
	// Conditions: Ready mirrors the ArtifactGenerator's.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`
}

// PackageSourceList is a list of PackageSources.
//
// +kubebuilder:object:root=true
type PackageSourceList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PackageSource `json:"items"`
}

// FindVariant returns the first variant named name.
func (s *PackageSource) FindVariant(name string) (*Variant, bool) {
	for i := range s.Spec.Variants {
		if s.Spec.Variants[i].Name == name {
			return &s.Spec.Variants[i], true
		}
	}
	return nil, false
}
