// Package artifacts is the PackageSource controller: for each PackageSource it writes one Flux
// ArtifactGenerator in cozy-system with one output artifact per variant × component (the chart
// directory, its vendored libraries and its values files merged into values.yaml), and mirrors
// the generator's Ready condition into the PackageSource status. source-watcher (or, on the
// local provider, our stand-in) turns each output into an ExternalArtifact that HelmReleases use
// as their chart.
//
// source-watcher can lose the write of its Ready condition and leave a generator that produced
// its artifacts Unknown for an hour; recovery.go detects that, forces a bounded number of
// re-reconciles with backoff, and gives up with a condition that says what to do.
package artifacts
