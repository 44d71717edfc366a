package qemu

import (
	"context"
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
	"github.com/cozylab/cozylab/lab/qemu/network"
	"github.com/cozylab/cozylab/lab/qemu/seed"
	"github.com/cozylab/cozylab/lab/qemu/twinimage"
	"github.com/cozylab/cozylab/lab/qemu/vm"
	"github.com/cozylab/cozylab/lab/registry"
	"github.com/cozylab/cozylab/lab/state"
	"github.com/cozylab/cozylab/talos/machineconfig"
)

// LabOptions configure RunLab.
type LabOptions struct {
	// Dir is the lab's state directory; Store its state.
	Dir   string
	Store *state.Store
	// RepoRoot is the module root the twin agent is built from; image's default when empty.
	RepoRoot string
	// Cache provides etcd and kube-apiserver; the default cache when nil.
	Cache *bincache.Cache
	// Progress receives the steps.
	Progress progress.Reporter
	// Ready is called once the Kubernetes API answered, with the kubeconfig's path.
	Ready func(kubeconfig string) error
}

// lab is one run of RunLab: what the steps made so far, for the later steps and the teardown.
type lab struct {
	LabOptions
	name     string
	image    string // NodeImageTwin or NodeImageTalos, as Up recorded it
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

// RunLab brings the QEMU lab up, calls Ready, and keeps the VMs running until ctx ends; then it
// stops them and removes the network. When a step fails it tears down what was made and
// returns the error.
func RunLab(ctx context.Context, o LabOptions) (err error) {
	if o.Cache == nil {
		o.Cache = &bincache.Cache{Progress: o.Progress}
	}
	l := &lab{LabOptions: o, name: o.Store.Lab().Name, image: NodeImageTwin}
	if o.Store.Value(KeyNodeImage) == NodeImageTalos {
		l.image = NodeImageTalos
	}
	defer func() { err = errors.Join(err, l.teardown(context.WithoutCancel(ctx))) }()
	// Until the lab is up, a VM that ends (crash, power-off, reboot loop) fails the waits at
	// once instead of at their bounds.
	upCtx, fail := context.WithCancelCause(ctx)
	defer fail(nil)
	l.fail = fail
	for _, action := range l.actions() {
		if err := action(upCtx); err != nil {
			if cause := context.Cause(upCtx); ctx.Err() == nil && cause != nil {
				err = cause
			}
			if len(l.clients) > 0 && ctx.Err() == nil {
				err = fmt.Errorf("%w (the nodes' service logs are saved in %s)", err, l.saveServiceLogs(context.WithoutCancel(ctx)))
			}
			return err
		}
	}
	kubeconfig := filepath.Join(l.Dir, "kubeconfig")
	if err := l.Ready(kubeconfig); err != nil {
		return err
	}
	<-ctx.Done()
	return nil
}

// actions is the lab's pipeline, in order: the twin's image is built, a Talos image is
// downloaded and copied onto each node's disks.
func (l *lab) actions() []func(context.Context) error {
	actions := []func(context.Context) error{
		l.chooseAccel,
		l.setUpNetwork,
		l.startRegistry,
		l.generateConfigs,
	}
	if l.image == NodeImageTalos {
		actions = append(actions, l.downloadTalos, l.writeDisks)
	} else {
		actions = append(actions, l.buildImage)
	}
	return append(actions,
		l.writeSeeds,
		l.bootVMs,
		l.waitForAPIs,
		l.bootstrap,
		l.waitForEtcd,
		l.fetchKubeconfig,
		l.checkKubernetes,
	)
}

// chooseAccel uses KVM only when a probe guest reaches userspace under it, and says so.
func (l *lab) chooseAccel(ctx context.Context) error {
	step := l.Progress.Begin("Probing KVM")
	kernel, err := FindKernel()
	if err != nil {
		return step.Done(err)
	}
	ok, why := vm.ProbeKVM(ctx, kernel, "")
	step.Done(nil)
	l.guest = Guest{Image: l.image, Kernel: kernel, Accel: vm.TCG}
	if ok {
		l.guest.Accel = vm.KVM
	}
	l.Progress.Begin(fmt.Sprintf("Accelerator: %s", accelName(l.guest.Accel))).Skip(why)
	title, why := nodeImageLine(l.image, l.talosOptions(), l.guest.Accel)
	l.Progress.Begin(title).Skip(why)
	return l.Store.Set(map[string]string{KeyAccel: accelName(l.guest.Accel), KeyNodeImage: l.image})
}

func accelName(a vm.Accel) string {
	if a == vm.KVM {
		return "KVM"
	}
	return "TCG"
}

// setUpNetwork plans the network, records the plan before anything exists, then creates it.
func (l *lab) setUpNetwork(ctx context.Context) error {
	step := l.Progress.Begin("Setting up the lab network")
	subnet, err := network.ChooseSubnet(l.name)
	if err != nil {
		return step.Done(fmt.Errorf("%w (remove another lab with `LAB_NAME=<name> go run mage.go lab:down`)", err))
	}
	plan, err := network.NewPlan(l.name, NodeCount, subnet)
	if err != nil {
		return step.Done(err)
	}
	prior, err := recordedChanges(l.Store)
	if err != nil {
		return step.Done(err)
	}
	if err := recordNetwork(l.Store, plan, prior); err != nil {
		return step.Done(err)
	}
	step.Status("bridge %s on %s, VIP %s", plan.Bridge, plan.Subnet, plan.VIP)
	changes, err := network.Up(ctx, plan)
	// Recorded even on failure: Up may have switched forwarding on before it failed.
	if rerr := recordNetwork(l.Store, plan, prior.Merge(changes)); rerr != nil {
		return step.Done(errors.Join(err, rerr))
	}
	if err != nil {
		return step.Done(err)
	}
	l.plan = plan
	return step.Done(l.Store.MarkDone(StepNetwork))
}

// generateConfigs makes (or reloads) the secrets and writes the talosconfig.
func (l *lab) generateConfigs(context.Context) error {
	step := l.Progress.Begin(fmt.Sprintf("Generating Talos configs (%d control-plane nodes, endpoint https://%s:6443)", NodeCount, l.plan.VIP))
	bundle, err := machineconfig.LoadOrCreateSecrets(filepath.Join(l.Dir, "secrets.yaml"))
	if err != nil {
		return step.Done(err)
	}
	patches, err := LabPatches(PatchValues(l.plan))
	if err != nil {
		return step.Done(err)
	}
	opts := ConfigOptions(l.plan, patches)
	opts.HTTPRegistries = []string{l.clusterRegistry}
	res, err := machineconfig.Generate(opts, bundle)
	if err != nil {
		return step.Done(err)
	}
	if err := machineconfig.SaveTalosconfig(filepath.Join(l.Dir, "talosconfig"), res.Talosconfig); err != nil {
		return step.Done(err)
	}
	l.configs = res
	return step.Done(nil)
}

// buildImage builds (or reuses) the twin's initramfs with etcd and kube-apiserver.
func (l *lab) buildImage(ctx context.Context) error {
	bins, err := l.Cache.Ensure(ctx, bincache.Etcd, bincache.KubeAPIServer)
	if err != nil {
		return err
	}
	kernel, initrd, err := twinimage.Build(ctx, twinimage.Options{
		EtcdPath: bins[bincache.Etcd], APIServerPath: bins[bincache.KubeAPIServer],
		RepoRoot: l.RepoRoot, Reporter: l.Progress,
	})
	if err != nil {
		return err
	}
	l.guest.Kernel, l.guest.Initrd = kernel, initrd
	return nil
}

// writeSeeds writes each node's NoCloud seed: static address, gateway, machine config.
func (l *lab) writeSeeds(context.Context) error {
	step := l.Progress.Begin(fmt.Sprintf("Writing NoCloud seeds (%d nodes)", NodeCount))
	for i, n := range l.configs.Nodes {
		p := NodePaths(l.Dir, n.Name)
		if err := os.MkdirAll(p.Dir, 0o700); err != nil {
			return step.Done(fmt.Errorf("create node directory %s: %w", p.Dir, err))
		}
		if err := seed.WriteFile(p.Seed, SeedConfig(l.plan, i, n.Config)); err != nil {
			return step.Done(err)
		}
	}
	return step.Done(nil)
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
func (l *lab) bootVMs(ctx context.Context) error {
	first := NodeSpec(l.Dir, l.plan, 0, l.guest)
	step := l.Progress.Begin(fmt.Sprintf("Booting VMs (%d nodes, %d MiB and %d vCPUs each, %s)", NodeCount, first.MemoryMiB, first.CPUs, accelName(l.guest.Accel)))
	group, err := process.NewGroup(filepath.Join(l.Dir, "run", "vms"))
	if err != nil {
		return step.Done(err)
	}
	l.group = group
	l.machines = make([]*vm.Machine, NodeCount)
	errs := make([]error, NodeCount)
	var wg sync.WaitGroup
	for i := range NodeCount {
		wg.Go(func() {
			l.machines[i], errs[i] = vm.Start(ctx, NodeSpec(l.Dir, l.plan, i, l.guest),
				vm.Options{Group: group, PowerdownTimeout: powerdownTimeout(l.image)})
		})
	}
	wg.Wait()
	for _, m := range l.machines {
		if m != nil {
			go l.watch(ctx, m)
		}
	}
	return step.Done(errors.Join(errs...))
}

// watch fails the bring-up when m ends before it is over (ctx is the bring-up's context).
func (l *lab) watch(ctx context.Context, m *vm.Machine) {
	select {
	case <-ctx.Done():
	case <-m.Done():
		l.fail(fmt.Errorf("VM %s ended: %v; see %s", m.Spec().Name, m.Err(), m.Spec().SerialLog))
	}
}

// teardown stops the VMs (in parallel) and removes the network: what the daemon leaves when it
// ends, so a harness killed before the detach leaves nothing running.
func (l *lab) teardown(ctx context.Context) error {
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
	if l.Store.Done(StepNetwork) || l.Store.Value(KeyNetwork) != "" {
		errs = append(errs, downNetwork(ctx, l.Store, l.name))
	}
	return errors.Join(errs...)
}
