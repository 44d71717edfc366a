package v1alpha1

import (
	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/fluxcd/pkg/apis/kustomize"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ApplicationDefinition describes an application type the platform exposes to tenants: its
// kind and schema in the aggregated API, the chart that implements it, which of its resources
// tenants see, and how the dashboard shows it.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:scope=Cluster
type ApplicationDefinition struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec ApplicationDefinitionSpec `json:"spec,omitempty"`
}

// ApplicationDefinitionSpec is the definition.
type ApplicationDefinitionSpec struct {
	// Application is the tenant-facing API type.
	Application ApplicationDefinitionApplication `json:"application"`
	// Release is how an application becomes a HelmRelease.
	Release ApplicationDefinitionRelease `json:"release"`

	// Secrets selects the Secrets of a release that tenants see.
	// +optional
	Secrets ApplicationDefinitionResources `json:"secrets,omitempty"`
	// Services selects the Services of a release that tenants see.
	// +optional
	Services ApplicationDefinitionResources `json:"services,omitempty"`
	// Ingresses selects the Ingresses of a release that tenants see.
	// +optional
	Ingresses ApplicationDefinitionResources `json:"ingresses,omitempty"`

	// Dashboard describes how the dashboard shows the application.
	// +optional
	Dashboard *ApplicationDefinitionDashboard `json:"dashboard,omitempty"`
}

// ApplicationDefinitionApplication names the tenant-facing type. Kind is CamelCase and keeps
// acronyms (HTTPCache); singular and plural are lower case without hyphens (httpcache); the
// object's metadata.name follows its own convention (http-cache): none derives from another.
type ApplicationDefinitionApplication struct {
	// Kind in the aggregated API.
	Kind string `json:"kind"`
	// OpenAPISchema validates an application's spec and drives the dashboard form (JSON text).
	OpenAPISchema string `json:"openAPISchema"`
	// Plural resource name.
	Plural string `json:"plural"`
	// Singular resource name.
	Singular string `json:"singular"`
}

// ApplicationDefinitionRelease describes the HelmRelease an application becomes.
type ApplicationDefinitionRelease struct {
	// ChartRef is the chart source.
	ChartRef *helmv2.CrossNamespaceSourceReference `json:"chartRef"`
	// Labels put on the release.
	// +optional
	Labels map[string]string `json:"labels,omitempty"`
	// Prefix of release names ("<prefix><application name>"); dot-free, since a dot separates
	// a release name from suffixes such as ".tenant-ca".
	// +kubebuilder:validation:Pattern=`^[a-z0-9-]*$`
	Prefix string `json:"prefix"`
	// WaitStrategy is the release's spec.waitStrategy.name; poller is implied when
	// healthCheckExprs is set and this is empty.
	// +optional
	// +kubebuilder:validation:Enum=poller;legacy
	WaitStrategy string `json:"waitStrategy,omitempty"`
	// HealthCheckExprs are CEL health checks of the custom resources the chart renders.
	// +optional
	HealthCheckExprs []kustomize.CustomHealthCheck `json:"healthCheckExprs,omitempty"`
}

// ApplicationDefinitionResources selects resources by inclusion and exclusion; exclusion wins.
type ApplicationDefinitionResources struct {
	// Exclude hides a resource matching any selector.
	// +optional
	Exclude []*ApplicationDefinitionResourceSelector `json:"exclude,omitempty"`
	// Include shows a resource matching any selector (and no exclusion).
	// +optional
	Include []*ApplicationDefinitionResourceSelector `json:"include,omitempty"`
}

// ApplicationDefinitionResourceSelector is a label selector that may also require one of a list
// of names. Names are Go templates over .name, .kind and .namespace.
type ApplicationDefinitionResourceSelector struct {
	metav1.LabelSelector `json:",inline"`
	// ResourceNames, when set, requires the resource's name to be one of these.
	// +optional
	ResourceNames []string `json:"resourceNames,omitempty"`
}

// DashboardTab is a tab of the dashboard's resource page.
// +kubebuilder:validation:Enum=workloads;ingresses;services;secrets;yaml
type DashboardTab string

// Dashboard tabs.
const (
	DashboardTabWorkloads DashboardTab = "workloads"
	DashboardTabIngresses DashboardTab = "ingresses"
	DashboardTabServices  DashboardTab = "services"
	DashboardTabSecrets   DashboardTab = "secrets"
	DashboardTabYAML      DashboardTab = "yaml"
)

// ApplicationDefinitionDashboard is the dashboard metadata of an application type.
type ApplicationDefinitionDashboard struct {
	// Singular display name ("Bucket").
	Singular string `json:"singular"`
	// Plural display name ("Buckets").
	Plural string `json:"plural"`
	// Name used in dashboard URLs ("bucket").
	// +optional
	Name string `json:"name,omitempty"`
	// SingularResource marks a resource that exists once, not as a collection.
	// +optional
	SingularResource bool `json:"singularResource,omitempty"`
	// Weight orders resources, lower first.
	// +optional
	Weight int `json:"weight,omitempty"`
	// Description is a short summary for catalogues.
	// +optional
	Description string `json:"description,omitempty"`
	// Icon as inline SVG, base64 or a data URI.
	// +optional
	Icon string `json:"icon,omitempty"`
	// Category groups resources ("Storage").
	Category string `json:"category"`
	// Tags for search.
	// +optional
	Tags []string `json:"tags,omitempty"`
	// Tabs to show.
	// +optional
	Tabs []DashboardTab `json:"tabs,omitempty"`
	// KeysOrder orders keys in the YAML view.
	// +optional
	KeysOrder [][]string `json:"keysOrder,omitempty"`
	// Module marks a tenant module.
	// +optional
	Module bool `json:"module,omitempty"`
}

// ApplicationDefinitionList is a list of ApplicationDefinitions.
//
// +kubebuilder:object:root=true
type ApplicationDefinitionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ApplicationDefinition `json:"items"`
}
