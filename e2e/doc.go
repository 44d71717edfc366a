// Package e2e is the end-to-end pipeline: an ordered list of idempotent actions — lab up, push
// the artifacts, install the installer chart, wait for the operator and the platform source,
// create the platform Package, wait for every HelmRelease, check — with a timing table, a JUnit
// report, and a diagnostics bundle when an action fails. Re-running after a failure skips what
// is already done: each action checks the cluster (or the registry) before it changes anything.
//
// It also holds the repository-wide check of the import-direction rule (CONTRIBUTING.md),
// which `mage verify` runs.
package e2e
