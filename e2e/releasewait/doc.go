// Package releasewait waits for a Cozystack-style platform to be installed: every Package Ready
// for its current generation and every HelmRelease Ready for its own.
//
// A platform does not create its HelmReleases at once: the operator turns a Package into
// HelmReleases, whose charts emit more Packages, whose HelmReleases appear minutes later.
// Upstream's e2e paces this with "wait until more than 10 exist; sleep 5; kubectl wait hr --all";
// an earlier version of this package waited for a minimum count and a settle period. Both can
// end before a Package just created has produced its releases. Wait is complete by
// construction instead: a Package counts only when its Ready condition was written for its
// current generation — the operator writes it after it has written every HelmRelease the
// Package declares — and a verdict of done from the watches is confirmed by a consistent
// listing (Packages, then HelmReleases) that must show exactly what the watches showed. There is
// no minimum and no settling: a platform of one release is done when that release is Ready.
//
// While waiting it reports "HelmReleases ready 37/52, Packages ready 10/11 — waiting on
// cozy-cilium/cilium: InstallFailed: ...", and it fails early, naming the release or Package,
// when one keeps failing instead of burning the whole timeout.
//
// The decision logic (classify, tracker) is pure and unit-tested; Wait is only the plumbing
// between two informers, a listing, timers and a progress.Step.
package releasewait
