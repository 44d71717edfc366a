// Package v1alpha1 is the cozystack.io/v1alpha1 API: Package, PackageSource and
// ApplicationDefinition, all cluster-scoped.
//
// The group, kinds, field names, labels, annotations and condition reasons are those of upstream
// Cozystack, so charts, Packages and tooling written for that platform work unchanged. Fields
// this project adds are optional and marked as additions in their comments.
//
// +kubebuilder:object:generate=true
// +groupName=cozystack.io
package v1alpha1
