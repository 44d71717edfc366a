// Package realnode runs a real Kubernetes node for a local lab: Debian's containerd, runc and
// CNI plugins with a kubelet and kube-proxy from the binaries cache, so pods really run, and
// logs, exec and port-forward work through the API server.
//
// The node lives in a network namespace of its own, as a machine would: a veth pair joins it to
// the host (the host end holds the address the API server and the lab registry serve on, the
// node end the node's address), and inside it are the pods' bridge, kube-proxy's nftables
// table and the kubelet's iptables chains. Two labs side by side therefore never share a
// firewall table, a port or a bridge, and the host's own rules are never touched. What the
// kubelet changes outside the namespace — its cgroups (under a cgroup root of the lab's own),
// mounts under the lab's directory, a few fixed paths and three kernel sysctls — teardown
// removes or restores (see Clean).
//
// Security is a real cluster's: the kubelet authenticates as system:node:<name> with a client
// certificate from the lab CA, serves with a certificate the API server verifies, accepts only
// clients with certificates from the lab CA and authorizes them through the API server
// (webhook); no anonymous access.
package realnode
