// Package progress carries what long work is doing to the person waiting for it.
//
// Library code never prints: it receives a Reporter and opens a Step for each unit of work
// (" • Building kube-apiserver v1.35.4 ..."), updates the step's live status while it waits
// ("compiling, 1m12s"), and ends it with ✓ or ✗ and the time it took. Only the edges of the
// program (the magefile, binaries) create a terminal reporter; tests pass Discard or a Recorder.
// A reporter remembers every step it ended, so the edge can print a timing summary.
package progress
