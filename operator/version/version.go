// Package version is the operator's release version, stamped by `go run mage.go
// release:prepare VERSION` (package internal/release).
package version

// Version is the release this operator belongs to.
const Version = "v0.1.0"
