// Package install applies the objects the operator ships — its CRDs, the Flux distribution —
// with server-side apply under the operator's field owner, and waits for CRDs to be Established
// by watching them. It is re-run on every operator start: applying an unchanged object is a
// no-op, and fields other managers own (labels others added) survive.
package install
