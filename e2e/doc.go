// Package e2e will hold the end-to-end pipeline (lab up, installer chart, operator, HelmRelease
// waiter, checks, diagnostics). Nothing imports it. For now it holds the repository-wide check
// of the import-direction rule (../../shared/STYLE.md), which `mage verify` runs.
package e2e
