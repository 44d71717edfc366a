// Package kube is how the sandbox's CLI reaches into its pod in the parent cluster: Exec and
// Terminal run a command there (kubectl's transport: WebSocket first, SPDY when the upgrade
// fails), and a Forwarder turns every local connection into a new stream to one port of the pod
// over a single kept connection.
//
// The Forwarder is our own rather than client-go's PortForwarder because the latter closes the
// whole connection — and with it every other forwarded connection — when one stream reports an
// error (a refused port, say), and it never reconnects. For a proxy that a browser opens dozens
// of connections through, one refused connection must stay one failed connection, and a
// restarted pod must cost a reconnect, not a restart of the CLI.
//
// Two limits come with the protocol (SPDY/3.1 as moby/spdystream speaks it, also inside the
// WebSocket tunnel). It has no per-stream flow control: a stream whose reader stops reading
// stops, after a few frames, every stream of the connection. And a server that predates
// kubernetes/kubernetes#128318 (containerd 1.6, Debian 12's) stalls for good one in five of a
// connection's streams once data was sent on a stream it refused; the Forwarder then moves new
// streams to a new connection (see poisonedWhy).
package kube
