// Package valuesreplicator keeps a copy of the cozystack-values Secret (cozy-system) in every
// namespace a label selector matches (cozystack.io/system=true by default), because
// HelmReleases take values from a Secret in their own namespace and the platform renders the
// Secret once.
//
// A copy's data is replaced as a whole by the source's, its type copied, and the source's
// labels and annotations laid over its own (its own other keys are kept). Every copy carries
// LabelReplicatedFrom (the source namespace), and only Secrets carrying it are ever deleted:
// a copy is deleted when its namespace stops matching or when the source is deleted. A Secret
// of the same name found in a matching namespace is overwritten and marked, as upstream
// overwrote it, so copies made by upstream are adopted on upgrade; one in a namespace that does
// not match is never touched. A copy deleted or edited by hand is put back. A copy whose type
// (immutable in Kubernetes) or immutability stands in the way is deleted and created afresh.
//
// Watches and cache. Upstream watched a label-filtered set of Namespaces, so a namespace that
// lost the label simply vanished from its cache (a delete event, ignored) and its copy stayed
// forever. Here every Namespace is watched, metadata only (names and labels, not specs or
// statuses), so losing the label is an ordinary update in which the old object matched and
// the new one does not; the namespace is then reconciled and its copy removed. The Secret
// watch is filtered server-side to the configured name in all namespaces, as upstream's cache
// was: the source's events fan out to every matching namespace and every namespace holding a
// Secret of that name, a copy's events to its own namespace. Both live in a cache of the
// controller's own that the manager starts, so the operator's main configures nothing for it.
//
// Namespaces being deleted are left alone: nothing can be created in them, and the copy goes
// with them.
package valuesreplicator
