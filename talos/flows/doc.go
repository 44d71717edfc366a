// Package flows drives Talos nodes through the machinery client: apply a config, bootstrap etcd
// once, fetch the kubeconfig, and wait for the cluster to be healthy.
//
// Every wait is a named condition.Condition ("etcd has 3 members") polled at a fixed interval
// within a bound, because the Talos API offers nothing to watch. The checks follow the
// condition package's one rule: an error means "not yet", condition.Permanent ends the wait.
// Retries follow talosctl's rules from pkg/cluster (apply-config.go, bootstrap.go): applying in
// maintenance mode retries any error, bootstrapping retries only the errors a booting node is
// known to return.
package flows
