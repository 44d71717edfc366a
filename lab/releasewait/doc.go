// Package releasewait waits for the HelmReleases a platform creates to become Ready.
//
// A Cozystack-style platform does not create its HelmReleases at once: the operator turns a
// Package into a HelmRelease, whose chart emits more Packages, whose HelmReleases appear minutes
// later. Upstream's e2e paces this with "wait until more than 10 exist; sleep 5; kubectl wait hr
// --all" and a second, authoritative `kubectl wait`; both poll a snapshot and neither says what
// is holding things up. Wait instead watches every HelmRelease (an informer: no polling loop),
// discovers new ones as they are created, and ends as soon as every release seen is Ready for
// its current generation and the set has been stable for a short settle period. While waiting it
// reports "HelmReleases ready 37/52 — waiting on cozy-cilium/cilium: InstallFailed: ...", and it
// fails early, naming the release, when one keeps failing instead of burning the whole timeout.
//
// The decision logic (classify, tracker) is pure and unit-tested; Wait is only the plumbing
// between an informer, timers and a progress.Step.
package releasewait
