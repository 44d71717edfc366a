// Package releases is the Package controller: for the Package named like a PackageSource it
// resolves the active variant, prepares the target namespaces, gates on the variant's
// dependencies and writes one Flux HelmRelease per enabled installable component, whose chart
// is the ExternalArtifact the PackageSource's generator yields.
//
// It keeps upstream's API and the meaning of Ready ("every HelmRelease is written", which
// dependency gating relies on) and adds what upstream lacks:
//   - status.releases ("7/9 ready") and a ReleasesReady condition naming the first HelmRelease
//     that is not Ready and why (upstream #1952);
//   - DependenciesNotReady names each missing, disabled or unready dependency (upstream #3389);
//   - an optional cap on install/upgrade retries that ends in a terminal condition (#4155);
//   - HelmReleases are written with server-side apply, so labels and annotations the operator
//     stops setting are removed, while fields other managers own (spec.suspend set by a person
//     or a tool) survive.
//
// Reads come from the manager's cache; the PackageSources that make a namespace privileged are
// found through an index, and the Packages that depend on a Package through an in-memory
// reverse map, so a reconcile never lists every Package. A reconcile that changes nothing
// writes nothing.
package releases
