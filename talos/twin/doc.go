// Package twin is the API half of a Talos node twin: a gRPC server speaking the machinery
// MachineService protocol on port 50000, so the real machinery client (and talosctl) can drive
// a machine that is not Talos.
//
// The twin keeps only what the Talos API itself owns: the applied machine config, whether etcd
// was bootstrapped, and the TLS identity derived from the config's OS CA. Everything else it
// reports (services, etcd members, the kubeconfig) comes from a Node, the thing that really runs,
// so its answers never claim more than the machine does. ProcessNode is the real one: it runs
// etcd and kube-apiserver as processes with the config's CAs (the aggregator CA as its front
// proxy, as Talos does), joins the other control planes' etcd through its JSON gateway, and is what the guest agent (cmd/cozylab-twin) serves; tests of
// the API alone use MemoryNode.
//
// Like a real node, a twin without a config is in maintenance mode: it serves TLS with a
// self-signed certificate, asks for no client certificate, and answers only Version and
// ApplyConfiguration. Once a config is applied, every new connection must present a client
// certificate issued by the config's OS CA, and connections opened in maintenance mode are
// refused, as they would be after the real node rebooted.
package twin
