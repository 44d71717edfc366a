// Package codegen regenerates the files the operator's build depends on but nobody edits by
// hand: the deepcopy functions and CRDs of operator/api, the Flux CRDs at the versions of
// operator/flux, and the flux-aio chart rendered from the operator's Flux.
//
// Every generated file is described once, as data, in the generator list: a controller-gen run
// or a Go function, the folder it writes and the files it owns there. Both entry points run the
// whole list into a temporary directory and compare what the generators own there with the
// repository: Check names every file that differs, so `go run mage.go verify` catches a change
// committed without `go run mage.go gen`; Generate replaces just those files, each by a rename,
// and removes the owned files no generator wrote (a CRD whose type was removed). The repository
// is never seen with a generated file missing or half written, and a current file is not
// touched.
//
// Only the magefile imports this package: it builds controller-gen through the binaries cache
// and runs the go command, neither of which belongs in the operator's binaries (a test keeps it
// out of them).
package codegen
