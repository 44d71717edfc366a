// Package images is the catalog of container images the lab builds itself, and the build that
// puts them in the lab registry, for a lab whose node really runs pods (containerd pulling
// through the lab registry as a mirror of each upstream registry).
//
// There is no Docker and no internet: every image is one static Go binary on an empty base, built
// from the Go module proxy by the binaries cache (CoreDNS, the Flux controllers) or from this
// repository (the pause image, the source-watcher stand-in, the operator), and pushed under its
// upstream name — "<registry>/registry.k8s.io/pause:3.10.1" — so that the manifests the platform
// applies keep the references they ship with, and containerd, asking the lab registry for
// "pause:3.10.1?ns=registry.k8s.io", finds it (lab/registry's mirror).
//
// An image is pushed only when the registry does not already hold its digest; images are
// reproducible (same binary, same digest), and go build skips relinking a binary whose inputs did
// not change, so a re-run costs little. The build refuses a dynamically linked binary: an empty
// base has no libc or loader to run it.
package images
