// Package sourcewatcher is a stand-in for Flux's source-watcher (the ArtifactGenerator
// controller) on the local provider.
//
// The real source-watcher is not served by the Go module proxy — only its API module is — so
// the local provider cannot build it. This package fulfils ArtifactGenerators
// (source.extensions.fluxcd.io/v1beta1) the way helm-controller expects: it reads the artifacts of
// the OCIRepositories, GitRepositories and Buckets a generator names, applies each output
// artifact's copy operations, serves one reproducible tar.gz per output over plain HTTP on
// loopback, and writes one ExternalArtifact per output with its status.
//
// Copy semantics follow upstream: "@<alias>/<glob>" with doublestar globs, "@artifact/<path>"
// targets (a trailing slash means "into this directory"), exclude globs, and the Overwrite and
// Merge strategies (Merge deep-merges YAML maps; lists and scalars are replaced). It departs from
// upstream on purpose in one place: a copy whose "from" matches nothing is an error that turns the
// generator Ready=False naming the copy, instead of silently producing an artifact without those
// files (fluxcd/source-watcher#368). A values file that quietly goes missing is exactly the kind
// of fault a test lab must surface.
//
// Other deliberate differences: no finalizer is added (ExternalArtifacts carry an owner reference
// to their generator, and a deleted generator's labelled ExternalArtifacts and stored files are
// removed when its deletion is observed); fetched sources are cached in memory by digest; there
// are no Kubernetes Events and no metrics.
package sourcewatcher
