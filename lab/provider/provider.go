// Package provider is the contract every place a lab can run in implements: the local provider
// (a real control plane as processes, nodes simulated by kwok, real Flux) and the QEMU provider
// (Talos VMs, or Talos twins under TCG). The e2e pipeline and the lab:* targets talk only to this
// interface, so the same pipeline runs on both.
//
// Up is idempotent and resumable: each provider records its steps in the lab's state (package
// lab/state) as it goes, skips what is done, and a re-run after a failure or a killed harness
// converges. Down works from the state alone, in reverse, joining every error, and removes the
// state last.
package provider

import (
	"context"
	"time"

	"github.com/cozylab/cozylab/internal/progress"
)

// Provider runs labs of one kind.
type Provider interface {
	// Name is "local" or "qemu".
	Name() string
	// Up brings the lab to a Kubernetes API that answers, reporting each step.
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

// Status is what a lab is doing now.
type Status struct {
	Name     string
	Provider string
	// Phase is "absent", "partial" (some steps done) or "up".
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
