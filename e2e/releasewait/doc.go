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
// In keep-going mode (Options.KeepGoing) a failure does not end the wait, so one run lists every
// blocker of a large platform tree, not one per run. The wait ends once nothing more can
// progress: every object not Ready has stalled, has been failing for FailAfter, or waits on a
// dependency (a HelmRelease's spec.dependsOn, a Package's status.dependencies) that is itself
// blocked or absent, followed transitively. Each blocker is filed in one class: failed by
// itself, waiting on a dependency (naming it and the root blocker of the chain), or blocked by a
// limit of the lab — a webhook or aggregated API that cannot be called, a missing CRD, an image
// that cannot be pulled — recognised from its message, since on a local lane some releases
// cannot become Ready by nature. A suspended release that was never Ready, or one still
// progressing, holds the wait: it is not known to be blocked.
//
// The decision logic (classify, tracker, analyse, LabLimitOf) is pure and unit-tested; Wait is
// only the plumbing between two informers, a listing, timers and a progress.Step.
package releasewait
