// Package charttest renders the charts of this folder the way Helm does (`helm template`:
// client-only install dry-run) and splits the result into objects, so every chart test works on
// the same output the operator's HelmReleases will produce. It is used by _test.go files only;
// nothing outside packages/ may import it.
package charttest
