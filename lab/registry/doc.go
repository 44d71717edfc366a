// Package registry is the lab's own OCI registry and the two things the lab pushes into it: the
// packages tree as a Flux artifact (what an OCIRepository pulls) and the operator image (what a
// node pulls), both built without Docker and byte for byte reproducible.
//
// The registry is go-containerregistry's in-memory implementation served over plain HTTP, so
// Flux objects that point at it need `insecure: true`. It keeps nothing across restarts: its
// manifests live only in memory (go-containerregistry offers a blob store on disk but no
// manifest store), so the lab pushes its artifacts again on every `up`. Pushing is cheap and
// reproducible — the same tree gives the same digest — so a re-push changes no revision.
package registry
