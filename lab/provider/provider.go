// Package provider is the contract every place a lab can run in implements — the local
// provider (a real control plane as processes, nodes simulated by kwok, real Flux) and the
// QEMU provider (Talos VMs, or Talos twins under TCG) — and the one skeleton they share.
//
// A lab lives in a daemon (lab/daemon) that `Up` starts and detaches once the lab answers and
// `Down` stops. Lab is the skeleton: it owns the state, the directory and up/down/status/
// kubeconfig; a provider supplies a Backend (prerequisites, clean-up from the state alone,
// status, logs) and the function its daemon runs, which builds the provider's ordered list of
// named Actions in one place and runs them with RunActions. Kept actions (files, a network,
// etcd's data) are resumed by a later `lab:up`; the others (processes, VMs) start again.
package provider

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/state"
)

// Provider runs one lab.
type Provider interface {
	// Name is the provider's name: "local" or "qemu".
	Name() string
	// Up brings the lab to a Kubernetes API that answers, reporting each step; it resumes
	// what an earlier, interrupted Up left.
	Up(ctx context.Context, rep progress.Reporter) error
	// Down removes everything Up made except the binaries and image caches.
	Down(ctx context.Context, rep progress.Reporter) error
	// Status describes the lab without changing it.
	Status(ctx context.Context) (Status, error)
	// Kubeconfig is the path of the lab's admin kubeconfig (0600), once Up reached the API.
	Kubeconfig() string
	// CollectLogs copies every process's or node's logs into dir, each read bounded by ctx.
	CollectLogs(ctx context.Context, dir string) error
}

// Console is the ability to follow a node's serial console (the QEMU provider).
type Console interface {
	// Console copies node's serial log to w, following it until ctx ends.
	Console(ctx context.Context, node string, w io.Writer) error
}

// Platform is the ability to run the platform: what the e2e pipeline needs beyond Provider.
type Platform interface {
	Provider
	// CanRunPlatform says, before anything starts, whether the platform can run on this lab
	// (nil) or why not, with what to do.
	CanRunPlatform() error
	// Registry is the host:port of the lab's artifact registry, as the harness reaches it.
	Registry() (string, error)
	// ClusterRegistry is the same registry as the cluster's nodes and in-cluster controllers
	// reach it (the lab bridge's gateway on QEMU; the same address locally).
	ClusterRegistry() (string, error)
	// OperatorVariant is the installer chart's cozystackOperator.variant for this lab
	// ("hosted" where the operator reaches the API through a kubeconfig, "talos" on Talos).
	OperatorVariant() string
}

// Figures is the ability to measure what a lab's own guests used (the QEMU provider), for the
// figures a run prints.
type Figures interface {
	// GuestPeaks is each running node's peak resident memory in bytes, by node name: what its
	// VM took of the host so far.
	GuestPeaks() (map[string]uint64, error)
}

// Paced is a lab slower than a native one by a known factor (a QEMU lab under TCG): what waits
// on it (the e2e pipeline's) multiply their bounds by Slowdown, which is 1 or more.
type Paced interface {
	Slowdown() int
}

// Network is the ability to reach into a lab's network from the host: the proxy's dialer.
type Network interface {
	// Dialer dials "host:port" in the lab's network, resolving names as the lab does.
	Dialer() (func(ctx context.Context, network, address string) (net.Conn, error), error)
}

// RunFunc is what a provider's daemon runs: it brings the lab in store up (RunActions over the
// provider's list), calls ready once it answers, and keeps it running until ctx ends; then it
// stops what lives only as long as the daemon and returns. Kept results stay for the next up.
type RunFunc func(ctx context.Context, store *state.Store, rep progress.Reporter, ready func() error) error

// StepUp is recorded in the state once the daemon reported the lab ready.
const StepUp = "up"

// UpWhileRunning returns the ready callback of a daemon's RunFunc: it records StepUp and then
// tells the harness (onReady). Once ctx ends (lab:down, or the harness gone before it
// detached) StepUp is undone at once, before the lab's processes are torn down, and a ready
// that comes later records nothing: a daemon still tearing down is never taken for a lab that
// is up (a lab:up in that moment left it "already up" while its API server was gone).
func UpWhileRunning(ctx context.Context, store *state.Store, onReady func()) (ready func() error) {
	var (
		mu    sync.Mutex
		ended bool
	)
	context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		ended = true
		_ = store.Undo(StepUp) // best effort: the next lab:up undoes it too when the daemon is gone
	})
	return func() error {
		mu.Lock()
		defer mu.Unlock()
		if ended {
			return fmt.Errorf("the lab is stopping: %w", context.Cause(ctx))
		}
		if err := store.MarkDone(StepUp); err != nil {
			return err
		}
		onReady()
		return nil
	}
}

// Status is what a lab is doing now.
type Status struct {
	Name     string
	Provider string
	// Phase is "absent", "partial" (some steps done, or the daemon is gone) or "up".
	Phase string
	Nodes []Node
	// Components are the lab's processes or VMs and whether they run.
	Components []Component
	Created    time.Time
}

// Node is one Kubernetes node of the lab.
type Node struct {
	Name    string
	Address string
	Role    string // control-plane or worker
}

// Component is one supervised process or VM.
type Component struct {
	Name    string
	Running bool
	Detail  string // pid, port, log path
}
