// Package appdefcontroller restarts the aggregated API server, cozystack-api, when the set of
// ApplicationDefinitions changes.
//
// cozystack-api lists the definitions once, at start-up, and serves one tenant-facing resource
// per definition; a new, removed or edited definition reaches tenants only after it restarts.
// The controller writes the SHA-256 of the set (ConfigHash: {"name","spec"} of every
// definition, sorted by name) to the cozystack.io/config-hash annotation of the Deployment's
// pod template with a JSON merge patch, and Kubernetes rolls the pods. It writes nothing when
// the annotation already holds the hash, so a restart of the controller or a change undone
// restarts nothing; labels and annotations of definitions are not part of the hash.
//
// Debounce: a platform upgrade touches tens of definitions within seconds, and each restart
// of cozystack-api interrupts tenants, so the controller waits until the set has been quiet
// for Debounce (5 s) and then writes once. The wait is not a timer: every change is recorded
// in memory, and a Reconcile inside the window returns RequeueAfter for the rest of it. The
// in-memory record is lost on restart, which is harmless: the first evaluation after start-up
// compares hashes.
//
// Unlike upstream, which looked at the Deployment only when a definition changed, the
// Deployment is watched too: its creation (cozystack-api installed after the definitions, or
// recreated) and any change of its hash annotation by someone else bring it up to date without
// waiting for the next definition change. The Deployment is read from a small cache of the
// controller's own holding only that object, so the manager's cache needs no filter for it and
// the operator never caches every Deployment of the cluster.
package appdefcontroller
