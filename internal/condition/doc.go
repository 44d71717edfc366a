// Package condition waits for named conditions ("kube-apiserver /readyz", "etcd has 3 members")
// that nothing can be watched for, by bounded polling. Kubernetes objects are waited for with
// watches elsewhere; this is for HTTP endpoints, sockets, files and gRPC APIs such as Talos'.
//
// One rule for errors holds everywhere: a Check returns nil when its condition holds, and
// otherwise an error saying why not yet. That error is a reason, not a failure: Wait shows it
// through its Reporter and checks again. Only an error wrapped with Permanent ends the wait at
// once, for what no amount of waiting fixes (the process that should answer exited, the node
// refused for good). When ctx ends or Poll.Timeout passes, Wait returns an error that names the
// condition and carries the last reason, so a timeout says what was still wrong.
//
// There used to be two condition types with opposite meanings of an error (one ended the wait,
// the other meant "not yet"); a check written for one silently misbehaved under the other. With
// one rule a check reads the same wherever it runs: in the lab, in the Talos flows, in tests.
package condition
