package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"github.com/cozylab/cozylab/talos/nocloud"
	"github.com/cozylab/cozylab/talos/twin"
)

// agentOptions are the guest paths the agent uses; tests point them elsewhere.
type agentOptions struct {
	SysBlock, DevDir, ResolvConf string
	StateDir                     string
	EtcdPath, APIServerPath      string
	// Kube are the Kubernetes node's programs (lab/qemu/twinimage puts them there); nil runs
	// etcd and kube-apiserver only.
	Kube        *twin.KubeOptions
	Listen      string
	SeedTimeout time.Duration
}

var guestPaths = agentOptions{
	SysBlock: "/sys/block", DevDir: "/dev", ResolvConf: "/etc/resolv.conf",
	StateDir: "/var/lib/cozylab-twin",
	EtcdPath: "/usr/bin/etcd", APIServerPath: "/usr/bin/kube-apiserver",
	Kube: &twin.KubeOptions{
		ControllerManager: "/usr/bin/kube-controller-manager", Scheduler: "/usr/bin/kube-scheduler",
		Kubelet: "/usr/bin/kubelet", KubeProxy: "/usr/bin/kube-proxy",
		// From Debian's containerd and containernetworking-plugins packages.
		Containerd: "/usr/bin/containerd", CNIBinDir: "/usr/lib/cni",
		// The guest's root is the initramfs, which pivot_root cannot leave.
		NoPivotRoot: true,
	},
	Listen:      ":50000",
	SeedTimeout: time.Minute,
}

// runAgent reads the seed, configures the network and hostname, and serves the Talos API until
// the node is asked to reboot or power off; it returns the exit code that tells PID 1 which.
func runAgent(ctx context.Context, o agentOptions, say func(string, ...any)) (int, error) {
	s, err := findSeed(ctx, o.SysBlock, o.DevDir, o.SeedTimeout)
	if err != nil {
		return 1, err
	}

	say("seed: found cidata on %s", s.Device)

	nc, err := nocloud.Parse(s.Files)
	if err != nil {
		return 1, fmt.Errorf("read the seed on %s: %w", s.Device, err)
	}

	up, err := configureNetwork(ctx, nc.Interfaces, o.ResolvConf)
	if err != nil {
		return 1, err
	}

	if len(up) == 0 || len(up[0].Addresses) == 0 {
		return 1, errors.New("configure network: network-config gives no address; the node needs a static one")
	}

	for _, u := range up {
		say("network: %s (%s) up with %v", u.Link.Attrs().Name, u.Link.Attrs().HardwareAddr, u.Addresses)
	}

	hostname := nc.MetaData.Name()
	if hostname == "" {
		hostname = "talos-twin"
	}

	if err := setHostname(hostname); err != nil {
		return 1, err
	}

	say("hostname: %s", hostname)

	return serve(ctx, o, nc.UserData, hostname, up[0], say)
}

// serve runs the twin over a ProcessNode until a power action.
func serve(ctx context.Context, o agentOptions, userData []byte, hostname string, nic nicUp, say func(string, ...any)) (int, error) {
	addr := net.IP(nic.Addresses[0].Addr().AsSlice())
	power := make(chan twin.PowerAction, 1)

	var kube *twin.KubeOptions

	if o.Kube != nil {
		if err := nodeSysctls(); err != nil {
			return 1, err
		}

		k := *o.Kube
		k.Routes = podRoutes(nic.Link)
		kube = &k
	}

	node, err := twin.NewProcessNode(twin.ProcessOptions{
		Hostname: hostname, Address: addr, StateDir: o.StateDir,
		EtcdPath: o.EtcdPath, APIServerPath: o.APIServerPath, Kube: kube,
		HoldVIP: func(_ context.Context, vip netip.Addr) error {
			say("vip: holding %s on %s", vip, nic.Link.Attrs().Name)

			return holdVIP(nic.Link, vip)
		},
		Log:   say,
		Power: func(a twin.PowerAction) { power <- a },
	})
	if err != nil {
		return 1, err
	}

	var cfg []byte
	if len(userData) > 0 {
		cfg = userData
	}

	tw, err := twin.New(node, twin.Options{Addresses: []net.IP{addr}, Config: cfg, Platform: "nocloud"})
	if err != nil {
		return 1, fmt.Errorf("start the Talos API with the user-data config: %w", err)
	}

	lis, err := net.Listen("tcp", o.Listen)
	if err != nil {
		return 1, fmt.Errorf("listen for the Talos API on %s: %w", o.Listen, err)
	}

	mode := "secure (config from user-data)"
	if tw.Maintenance() {
		mode = "maintenance (no user-data)"
	}

	say("api: serving the Talos API on %s, %s", lis.Addr(), mode)

	served := make(chan error, 1)
	go func() { served <- tw.Serve(lis) }()

	return awaitPower(ctx, tw, node, served, power, say)
}

// awaitPower waits until the API server fails or the node asks for a power action, and stops
// the API gracefully so the answer to Reboot or Shutdown reaches the client.
func awaitPower(ctx context.Context, tw *twin.Twin, node *twin.ProcessNode, served <-chan error,
	power <-chan twin.PowerAction, say func(string, ...any),
) (int, error) {
	select {
	case err := <-served:
		return 1, errors.Join(err, node.Close(context.Background()))
	case <-ctx.Done():
		say("power: power button: stopping etcd and kube-apiserver")
		stopCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		tw.GracefulStop(stopCtx)

		return exitPowerOff, node.Close(stopCtx)
	case a := <-power:
		stopCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		defer cancel()
		tw.GracefulStop(stopCtx)

		if a == twin.PowerReboot {
			say("power: reboot requested")

			return exitReboot, nil
		}

		say("power: shutdown requested")

		return exitPowerOff, nil
	}
}

func setHostname(name string) error {
	if err := os.WriteFile("/proc/sys/kernel/hostname", []byte(name), 0o644); err != nil { //nolint:gosec // a proc file
		return fmt.Errorf("set hostname %s: %w", name, err)
	}

	return nil
}
