// Package codegen regenerates the files the operator's build depends on but nobody edits by
// hand: the deepcopy functions and CRDs of operator/api, the Flux CRDs at the versions of
// operator/flux, and the flux-aio chart rendered from the operator's Flux.
//
// Every generated file is described once, as data, in the generator list: a controller-gen run
// or a Go function, the folder it writes and the files it owns there. Generate runs the list in
// place; Check runs it into a temporary directory and names every file of the repository that
// differs, so `go run mage.go verify` catches a change committed without `go run mage.go gen`.
// A generator first removes the files it owns, so an output whose source is gone (a CRD whose
// type was removed) does not linger.
//
// Only the magefile imports this package: it builds controller-gen through the binaries cache
// and runs the go command, neither of which belongs in the operator's binaries (a test keeps it
// out of them).
package codegen
