// Package packageloop is the per-package development loop: show, diff, apply, suspend, resume
// and delete one chart directory against the HelmRelease that installs it in a live cluster.
//
// The loop reproduces what helm-controller would do with the chart, so a developer sees and
// installs exactly what Flux would, without a helm, kubectl or cozyhr binary:
//
//   - values: the chart's values files named in the HelmRelease annotation
//     cozyhr.cozystack.io/values-files form the chart defaults (the first replaces values.yaml,
//     the rest merge over it, as in the artifact the operator builds); then spec.valuesFrom in
//     order; then spec.values on top (Compose);
//   - release name, target namespace and storage namespace as the controller computes them
//     (ReleaseName, with names over 53 characters shortened);
//   - every object carries the controller's origin labels helm.toolkit.fluxcd.io/name and
//     helm.toolkit.fluxcd.io/namespace.
//
// Diff compares against the live objects, not against the Helm release manifest: each rendered
// object is applied server-side in dry-run mode with the controller's field manager, so hand
// edits to live objects show up, and objects the release would delete are listed too.
//
// Apply suspends the HelmRelease first so Flux does not fight the local release; Resume hands
// it back (see Resume for what happens to status.history).
package packageloop
