package v1alpha1

import (
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Package installs the components of one variant of the PackageSource that has the same name:
// one Flux HelmRelease per enabled installable component.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster,shortName=pkg;pkgs
// +kubebuilder:subresource:status
// +kubebuilder:printcolumn:name="Variant",type=string,JSONPath=`.spec.variant`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Releases",type=string,JSONPath=`.status.releases`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
type Package struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   PackageSpec   `json:"spec,omitempty"`
	Status PackageStatus `json:"status,omitempty"`
}

// PackageSpec chooses a variant and configures its components.
type PackageSpec struct {
	// Variant names a variant of the PackageSource with this Package's name; empty means
	// "default" (applied by the operator, not the schema, as upstream does).
	// +optional
	Variant string `json:"variant,omitempty"`

	// IgnoreDependencies lists packages of the variant's dependsOn to ignore, both for gating
	// this Package and for the dependsOn of its HelmReleases.
	// +optional
	IgnoreDependencies []string `json:"ignoreDependencies,omitempty"`

	// Components configures components by component name (the name in the PackageSource).
	// +optional
	Components map[string]PackageComponent `json:"components,omitempty"`
}

// PackageComponent configures one component of a Package.
type PackageComponent struct {
	// Enabled false disables the component; absent or true leaves it enabled.
	// +optional
	Enabled *bool `json:"enabled,omitempty"`

	// Values are copied verbatim into the HelmRelease's spec.values.
	// +optional
	// +kubebuilder:pruning:PreserveUnknownFields
	// +kubebuilder:validation:Schemaless
	// +kubebuilder:validation:Type=object
	Values *apiextensionsv1.JSON `json:"values,omitempty"`
}

// PackageStatus is the observed state of a Package.
type PackageStatus struct {
	// Conditions: Ready keeps upstream's meaning — every HelmRelease of the Package is written
	// (dependency gating relies on it). ReleasesReady, an addition, says whether those releases
	// are actually installed and healthy, naming the first that is not.
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Dependencies maps each dependency package name to its readiness.
	// +optional
	Dependencies map[string]DependencyStatus `json:"dependencies,omitempty"`

	// Releases summarises the health of the Package's HelmReleases as "<ready>/<total> ready"
	// (an addition to upstream).
	// +optional
	Releases string `json:"releases,omitempty"`
}

// DependencyStatus is the readiness of one dependency package.
type DependencyStatus struct {
	// Ready is the dependency Package's Ready condition being True.
	Ready bool `json:"ready"`
}

// PackageList is a list of Packages.
//
// +kubebuilder:object:root=true
type PackageList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Package `json:"items"`
}

// ComponentEnabled reports whether the Package leaves component name enabled.
func (p *Package) ComponentEnabled(name string) bool {
	c, ok := p.Spec.Components[name]
	return !ok || c.Enabled == nil || *c.Enabled
}

// ActiveVariant is spec.variant, or "default" when it is empty.
func (p *Package) ActiveVariant() string {
	if p.Spec.Variant == "" {
		return DefaultVariant
	}
	return p.Spec.Variant
}
