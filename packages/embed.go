// Package packages holds the platform's Helm charts, one directory per chart under a category
// folder (core, system, apps, extra). They are embedded so the lab and the operator's tooling
// ship the exact tree that the tests in this folder rendered and dry-ran against an API server.
package packages

import "embed"

// FS is the packages tree rooted at this folder: core/<chart>/Chart.yaml and so on. The `all:`
// prefix keeps files whose names start with `_` or `.`, such as templates/_helpers.tpl and
// .helmignore, which Go's embed would otherwise drop.
//
//go:embed all:core all:system all:apps all:extra
var FS embed.FS
