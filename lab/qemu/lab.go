package qemu

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/siderolabs/talos/pkg/machinery/client"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/internal/subnet"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/qemu/network"
	"github.com/cozylab/cozylab/lab/qemu/seed"
	"github.com/cozylab/cozylab/lab/qemu/twinimage"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/lab/state"
	"github.com/cozylab/cozylab/talos/machineconfig"
)

// Names of the QEMU lab's actions. Kept ones outlive the daemon; the VMs and every Talos flow
// after them run on each up (the flows are idempotent: a bootstrapped etcd is not bootstrapped
// again).
const (
	ActionNetwork    = "Setting up the lab network"     // kept: bridge, taps, NAT
	ActionRegistry   = "Starting the artifact registry" // in the daemon
	ActionConfigs    = "Generating Talos configs"       // kept: secrets and talosconfig
	ActionTalosImage = "Downloading the Talos image"    // kept (and cached)
	ActionDisks      = "Writing node disks"             // kept
	ActionTwinImage  = "Building the twin image"        // cached by digest
	ActionSeeds      = "Writing NoCloud seeds"          // kept
	ActionBoot       = "Booting VMs"
	ActionAPIs       = "Waiting for the Talos API of every node"
	ActionBootstrap  = "Bootstrapping etcd"
	ActionEtcd       = "Waiting for every node to be an etcd member"
	ActionKubeconfig = "Fetching the kubeconfig"
	ActionKubernetes = "Checking the Kubernetes API on the VIP"
	// The twin's workload steps: its kubelets run the lab's own pods, as a real node's do.
	ActionImages     = "Building the lab's images (pause, CoreDNS, Flux)"
	ActionNodesReady = "Waiting for every node to be Ready"
	ActionDNS        = "Starting CoreDNS"
)

// lab is one run of the QEMU lab's daemon: what the actions made so far, for the later actions
// and the stop.
type lab struct {
	store *state.Store
	req   state.QEMURequest
	// Progress receives the steps; Dir is the lab's directory.
	Progress progress.Reporter
	Dir      string
	name     string
	cache    *bincache.Cache
	plan     network.Plan
	registry *registry.Registry
	// clusterRegistry is the registry's address on the bridge, for the nodes.
	clusterRegistry string
	// talosImage is the cached Talos image the node disks are copied from.
	talosImage string
	guest      Guest
	configs    *machineconfig.Result
	group      *process.Group
	machines   []*vm.Machine
	clients    []*client.Client
	// fail ends the bring-up with a cause.
	fail context.CancelCauseFunc
}

// Run is the QEMU lab's daemon (provider.RunFunc): it brings the lab up, calls ready once the
// Kubernetes API answers through the VIP, and keeps the VMs running until ctx ends; then it
// stops them and the registry. The network, secrets, disks and seeds stay for the next up;
// lab:down removes them.
func Run(ctx context.Context, store *state.Store, rep progress.Reporter, ready func() error) (err error) {
	req := store.Request()
	if req.QEMU == nil {
		return fmt.Errorf("lab %s has no QEMU request: remove it with `LAB_NAME=%s go run mage.go lab:down`", req.Name, req.Name)
	}
	l := &lab{store: store, req: *req.QEMU, Progress: rep, Dir: store.Dir(), name: req.Name, cache: &bincache.Cache{Progress: rep}}
	l.guest = Guest{Image: l.req.NodeImage, Accel: vm.TCG, MemoryMiB: l.req.MemoryMiB, CPUs: l.req.CPUs}
	if l.req.KVM {
		l.guest.Accel = vm.KVM
	}
	rep.Begin("Accelerator: " + accelName(l.guest.Accel)).Skip(l.req.KVMReason)
	title, why := nodeImageLine(l.req.NodeImage, l.talosOptions(), l.guest.Accel)
	rep.Begin(title).Skip(why)
	defer func() { err = errors.Join(err, l.stop(context.WithoutCancel(ctx))) }()
	// Until the lab is up, a VM that ends (crash, power-off, reboot loop) fails the waits at
	// once instead of at their bounds.
	upCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	l.fail = fail
	if err := provider.RunActions(upCtx, store, rep, l.actions()); err != nil {
		if cause := context.Cause(upCtx); ctx.Err() == nil && cause != nil {
			err = cause
		}
		if len(l.clients) > 0 && ctx.Err() == nil {
			err = fmt.Errorf("%w (the nodes' service logs are saved in %s)", err, l.saveServiceLogs(context.WithoutCancel(ctx)))
		}
		return err
	}
	if err := ready(); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// Actions is the QEMU lab's bring-up for req, in order: the actions' names and which are kept
// (tests and docs read it; the daemon runs the same list).
func Actions(req state.QEMURequest) []provider.Action { return (&lab{req: req}).actions() }

// actions is the lab's bring-up, in order: the twin's image is built, or a Talos image is
// downloaded and copied onto each node's disks. On twins the lab then puts its own images in
// the registry, waits for the kubelets to register and deploys CoreDNS, which a real Talos
// node does itself (its bootstrap manifests).
func (l *lab) actions() []provider.Action {
	actions := []provider.Action{
		{Name: ActionNetwork, Run: l.setUpNetwork, Keep: l.keepNetwork},
		{Name: ActionRegistry, Run: l.startRegistry},
		{Name: ActionConfigs, Run: l.generateConfigs, Keep: l.keepConfigs},
	}
	if l.req.NodeImage == NodeImageTalos {
		actions = append(actions,
			provider.Action{Name: ActionTalosImage, Run: l.downloadTalos, Keep: l.keepTalosImage},
			provider.Action{Name: ActionDisks, Run: l.writeDisks, Keep: l.keepDisks})
	} else {
		actions = append(actions, provider.Action{Name: ActionTwinImage, Run: l.buildImage})
	}
	actions = append(actions,
		provider.Action{Name: ActionSeeds, Run: l.writeSeeds, Keep: l.keepSeeds},
		provider.Action{Name: ActionBoot, Run: l.bootVMs},
		provider.Action{Name: ActionAPIs, Run: l.waitForAPIs},
		provider.Action{Name: ActionBootstrap, Run: l.bootstrap},
		provider.Action{Name: ActionEtcd, Run: l.waitForEtcd},
		provider.Action{Name: ActionKubeconfig, Run: l.fetchKubeconfig},
		provider.Action{Name: ActionKubernetes, Run: l.checkKubernetes},
	)
	if l.req.NodeImage != NodeImageTalos {
		actions = append(actions,
			provider.Action{Name: ActionImages, Run: l.buildImages},
			provider.Action{Name: ActionNodesReady, Run: l.waitForNodes},
			provider.Action{Name: ActionDNS, Run: l.startDNS})
	}
	return actions
}

func accelName(a vm.Accel) string {
	if a == vm.KVM {
		return "KVM"
	}
	return "TCG"
}

// setUpNetwork plans the network, records the plan before anything exists, then creates it.
func (l *lab) setUpNetwork(ctx context.Context, step progress.Step) error {
	unlock, err := subnet.Lock(ctx) // until the bridge holds its address: no other lab takes it
	if err != nil {
		return err
	}
	defer unlock()
	subnet, err := network.ChooseSubnet(l.name)
	if err != nil {
		return fmt.Errorf("%w (remove another lab with `LAB_NAME=<name> go run mage.go lab:down`)", err)
	}
	plan, err := network.NewPlan(l.name, NodeCount, subnet)
	if err != nil {
		return err
	}
	if err := state.UpdateFacts(l.store, func(f *facts) { f.Network = &plan }); err != nil {
		return err
	}
	step.Status("bridge %s on %s, VIP %s", plan.Bridge, plan.Subnet, plan.VIP)
	changes, err := network.Up(ctx, plan)
	// Recorded even on failure: Up may have switched forwarding on before it failed.
	if rerr := state.UpdateFacts(l.store, func(f *facts) { f.HostChanges = f.HostChanges.Merge(changes) }); rerr != nil {
		return errors.Join(err, rerr)
	}
	if err != nil {
		return err
	}
	l.plan = plan
	return nil
}

// keepNetwork resumes the recorded network when its bridge, taps and NAT table still exist.
func (l *lab) keepNetwork(context.Context) error {
	f, err := state.LoadFacts[facts](l.store)
	if err != nil {
		return err
	}
	if f.Network == nil {
		return errors.New("no network plan recorded")
	}
	if err := f.Network.Validate(); err != nil {
		return err
	}
	st, err := network.Inspect(f.Network.Names)
	if err != nil {
		return err
	}
	if !st.Complete(*f.Network) {
		return fmt.Errorf("the network of bridge %s is incomplete", f.Network.Bridge)
	}
	l.plan = *f.Network
	return nil
}

// generateConfigs makes (or reloads) the secrets, generates the nodes' configs and writes the
// talosconfig.
func (l *lab) generateConfigs(context.Context, progress.Step) error {
	if err := l.loadConfigs(); err != nil {
		return err
	}
	if err := machineconfig.SaveTalosconfig(filepath.Join(l.Dir, "talosconfig"), l.configs.Talosconfig); err != nil {
		return err
	}
	return state.UpdateFacts(l.store, func(f *facts) { f.ConfigRegistry = l.clusterRegistry })
}

// keepConfigs regenerates the configs in memory from the kept secrets (the same secrets, plan
// and registry give the same configs), unless the registry moved since they were written.
func (l *lab) keepConfigs(context.Context) error {
	f, err := state.LoadFacts[facts](l.store)
	if err != nil {
		return err
	}
	if f.ConfigRegistry != l.clusterRegistry {
		return fmt.Errorf("the registry moved from %s to %s", f.ConfigRegistry, l.clusterRegistry)
	}
	return l.loadConfigs()
}

func (l *lab) loadConfigs() error {
	bundle, err := machineconfig.LoadOrCreateSecrets(filepath.Join(l.Dir, "secrets.yaml"))
	if err != nil {
		return err
	}
	patches, err := LabPatches(PatchValues(l.plan))
	if err != nil {
		return err
	}
	if !l.req.KVM {
		patches = append(patches, []byte(EmulationPatch))
	}
	opts := ConfigOptions(l.plan, patches)
	opts.HTTPRegistries = []string{l.clusterRegistry}
	opts.RegistryMirrors = RegistryMirrors(l.clusterRegistry, l.req.NodeImage != NodeImageTalos)
	res, err := machineconfig.Generate(opts, bundle)
	if err != nil {
		return err
	}
	l.configs = res
	return nil
}

// buildImage builds (or reuses) the twin's initramfs with etcd and kube-apiserver.
func (l *lab) buildImage(ctx context.Context, _ progress.Step) error {
	bins, err := l.cache.Ensure(ctx, TwinTools()...)
	if err != nil {
		return err
	}
	kernel, initrd, err := twinimage.Build(ctx, twinimage.Options{
		EtcdPath: bins[bincache.Etcd], APIServerPath: bins[bincache.KubeAPIServer],
		ControllerManagerPath: bins[bincache.KubeControllerManager], SchedulerPath: bins[bincache.KubeScheduler],
		KubeletPath: bins[bincache.Kubelet], KubeProxyPath: bins[bincache.KubeProxy],
		Packages: TwinPackages(), Links: realnode.IptablesNFTLinks,
		RepoRoot: l.store.Request().RepoRoot, Reporter: l.Progress,
	})
	if err != nil {
		return err
	}
	l.guest.Kernel, l.guest.Initrd = kernel, initrd
	return nil
}

// TwinTools are the binaries cache's programs a twin guest runs: a Talos control-plane node's.
func TwinTools() []string {
	return []string{bincache.Etcd, bincache.KubeAPIServer, bincache.KubeControllerManager, bincache.KubeScheduler,
		bincache.Kubelet, bincache.KubeProxy}
}

// TwinPackages are the Debian packages a twin guest carries: the real node's (containerd, runc,
// the CNI plugins, iptables-nft, nftables, conntrack) and util-linux's mount, which the kubelet
// runs for pods' secret and configMap volumes. mount's libraries are named: they are its
// Pre-Depends, which the closure leaves out (most Pre-Depends are dpkg's own needs).
func TwinPackages() []string {
	return append(realnode.Packages(), "mount", "libmount1", "libblkid1", "libselinux1", "libsmartcols1")
}

// writeSeeds writes each node's NoCloud seed: static address, gateway, machine config.
func (l *lab) writeSeeds(_ context.Context, step progress.Step) error {
	step.Status("%d nodes", NodeCount)
	for i, n := range l.configs.Nodes {
		p := NodePaths(l.Dir, n.Name)
		if err := os.MkdirAll(p.Dir, 0o700); err != nil {
			return fmt.Errorf("create node directory %s: %w", p.Dir, err)
		}
		if err := seed.WriteFile(p.Seed, SeedConfig(l.plan, i, n.Config)); err != nil {
			return err
		}
	}
	return state.UpdateFacts(l.store, func(f *facts) { f.SeedConfigs = configsDigest(l.configs) })
}

// keepSeeds resumes the seeds when every node's is still there and they carry the configs
// generated now (a newer cozylab may generate other configs from the same secrets).
func (l *lab) keepSeeds(context.Context) error {
	f, err := state.LoadFacts[facts](l.store)
	if err != nil {
		return err
	}
	if f.SeedConfigs != configsDigest(l.configs) {
		return errors.New("the machine configs changed since the seeds were written")
	}
	for _, name := range NodeNames(NodeCount) {
		if _, err := os.Stat(NodePaths(l.Dir, name).Seed); err != nil {
			return err
		}
	}
	return nil
}

// configsDigest identifies the nodes' machine configs: a SHA-256 over each node's name and
// config.
func configsDigest(res *machineconfig.Result) string {
	h := sha256.New()
	for _, n := range res.Nodes {
		fmt.Fprintf(h, "%s\x00%d\x00", n.Name, len(n.Config))
		h.Write(n.Config)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// SeedConfig is node i's seed: its hostname, the MAC its VM gets, its address on the lab
// subnet with the bridge as gateway, and its machine config.
func SeedConfig(plan network.Plan, i int, machineConfig []byte) seed.Config {
	name := NodeNames(len(plan.Nodes))[i]
	return seed.Config{
		InstanceID: plan.Lab + "-" + name,
		Hostname:   name,
		MAC:        vm.MAC(plan.Lab, name),
		Address:    nodeAddress(plan, i),
		Gateway:    plan.Gateway,
		UserData:   machineConfig,
	}
}

// bootVMs starts every node's QEMU at once.
func (l *lab) bootVMs(ctx context.Context, step progress.Step) error {
	first := NodeSpec(l.Dir, l.plan, 0, l.guest)
	step.Status("%s", sizeLine(NodeCount, first.MemoryMiB, first.CPUs, hostMemory(), accelName(l.guest.Accel)))
	meminfo, _ := os.ReadFile("/proc/meminfo") //nolint:errcheck // unreadable: nothing to check against
	if err := checkMemory(string(meminfo), NodeCount, first.MemoryMiB, l.guest.Accel != vm.KVM); err != nil {
		return err
	}
	group, err := process.NewGroup(filepath.Join(l.Dir, "run", "vms"))
	if err != nil {
		return err
	}
	l.group = group
	l.machines = make([]*vm.Machine, NodeCount)
	errs := make([]error, NodeCount)
	var wg sync.WaitGroup
	for i := range NodeCount {
		wg.Go(func() {
			l.machines[i], errs[i] = vm.Start(ctx, NodeSpec(l.Dir, l.plan, i, l.guest),
				vm.Options{Group: group, PowerdownTimeout: powerdownTimeout(l.req.NodeImage)})
		})
	}
	wg.Wait()
	for _, m := range l.machines {
		if m != nil {
			go l.watch(ctx, m)
		}
	}
	return errors.Join(errs...)
}

// watch fails the bring-up when m ends before it is over (ctx is the bring-up's context).
func (l *lab) watch(ctx context.Context, m *vm.Machine) {
	select {
	case <-ctx.Done():
	case <-m.Done():
		l.fail(fmt.Errorf("VM %s ended: %v; see %s", m.Spec().Name, m.Err(), m.Spec().SerialLog))
	}
}

// stop stops the VMs (in parallel) and the registry: what lives only as long as the daemon,
// so a harness killed before the detach leaves nothing running. The network stays for the
// next up; lab:down removes it.
func (l *lab) stop(ctx context.Context) error {
	var errs []error
	for _, c := range l.clients {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	stopErrs := make([]error, len(l.machines))
	var wg sync.WaitGroup
	for i, m := range l.machines {
		if m != nil {
			wg.Go(func() { stopErrs[i] = m.Stop(stopCtx) })
		}
	}
	wg.Wait()
	errs = append(errs, stopErrs...)
	if l.group != nil {
		errs = append(errs, l.group.Stop(ctx))
	}
	if l.registry != nil {
		errs = append(errs, l.registry.Close())
	}
	return errors.Join(errs...)
}
