// Package controlplane runs a real Kubernetes control plane — etcd and kube-apiserver from the
// binaries cache — as local processes on free loopback ports: for the tests of every package that
// talks to an API server, and as the base of the local provider.
//
// Start generates a CA, a serving certificate and a service-account key in Go, writes a
// token-authenticated kubeconfig (0600), starts etcd, waits for its /health, then starts
// kube-apiserver and waits for /readyz (kube-apiserver exits when etcd has not answered within
// about 20 s, which a starved etcd on a loaded host can exceed). Ports are picked free and, should another
// program grab one between the pick and the bind, the start is retried on fresh ports. Each run
// has its own directory under Root, owned through lab/process: run directories left by a killed
// run are swept on the next start, and the kernel kills the processes of a killed owner.
package controlplane
