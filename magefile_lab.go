//go:build mage

package main

import (
	"context"
	"errors"

	"github.com/magefile/mage/mg"

	"github.com/cozylab/cozylab/cli"
)

// Lab groups the lab targets. LAB_PROVIDER=auto|local|qemu picks where the lab runs (auto:
// qemu only when a guest really boots under KVM) and LAB_NAME names it (default "dev");
// LAB_NODE_IMAGE=twin|talos, LAB_NODE_MEMORY_MIB, LAB_NODE_CPUS and LAB_TALOS_VERSION,
// LAB_TALOS_SCHEMATIC, LAB_TALOS_IMAGE_SHA256 shape a QEMU lab; LAB_SIMULATED_WEBHOOKS=ignore
// lets a local lab ignore admission webhooks that only simulated pods serve; LAB_LOCAL_NODES=kwok
// runs a local lab without its real node (simulated nodes only).
type Lab mg.Namespace

// Up brings a lab up (or resumes one) and leaves it running: a Kubernetes API with Flux, the artifact registry and the operator runner.
func (Lab) Up(ctx context.Context) error { return cli.LabUp(ctx) }

// Down removes the lab: every process or VM, its network and its state (the binaries and image caches stay).
func (Lab) Down(ctx context.Context) error { return cli.LabDown(ctx) }

// Status shows the lab's phase, nodes and components.
func (Lab) Status(ctx context.Context) error { return cli.LabStatus(ctx) }

// Kubeconfig prints the lab's kubeconfig path; LAB_KUBECONFIG_MERGE=1 also merges it into ~/.kube/config (like kind).
func (Lab) Kubeconfig(ctx context.Context) error { return cli.LabKubeconfig(ctx) }

// Console follows a lab node's serial log (srv1, srv2, srv3; QEMU labs) like `tail -f`, until Ctrl-C.
func (Lab) Console(ctx context.Context, node string) error { return cli.LabConsole(ctx, node) }

// E2e brings the whole platform up on a lab and checks it (E2E_VARIANT picks the platform variant, E2E_PACKAGES another packages tree, E2E_INSTALLER=ours|tree its installer chart, E2E_VALUES a file of platform values, E2E_KEEP_GOING=1 every blocker listed; the lab stays up: lab:down removes it).
func E2e(ctx context.Context) error { return cli.E2E(ctx) }

// E2E holds the e2e lanes besides the main one (mage e2e).
type E2E mg.Namespace

// Upgrade is the upgrade lane: it installs the platform of E2E_FROM (a git ref; default the
// last release, release.json), then upgrades the same lab to the working tree and checks that
// nothing was lost (E2E_VARIANT as for e2e; the lab stays up: lab:down removes it).
func (E2E) Upgrade(ctx context.Context) error { return cli.E2EUpgrade(ctx) }

// Proxy serves a SOCKS5 (socks5h) and HTTP proxy into the lab's network on 127.0.0.1:1080 (PROXY_ADDR; PROXY_USER and PROXY_PASSWORD require credentials) until interrupted: node addresses, pod and Service IPs, Service names.
func Proxy(ctx context.Context) error { return cli.Proxy(ctx) }

// Login opens a shell logged in to the lab: KUBECONFIG (and TALOSCONFIG) in a private temporary directory, clients reaching the lab through a proxy that lives as long as the shell, ALL_PROXY/HTTPS_PROXY/HTTP_PROXY set; LOGIN_COMMAND runs a command instead of an interactive shell. Its exit code is the shell's.
func Login(ctx context.Context) error { return exitCode(cli.Login(ctx)) }

// Release makes releases: release.json names the last one, where e2e:upgrade starts.
type Release mg.Namespace

// Prepare stamps VERSION (v and semver, newer than release.json's) into release.json, the
// installer and platform chart versions and the operator's version. Commit the result: that
// commit is the release, and the upgrade lane's default starting point from then on.
func (Release) Prepare(ctx context.Context, version string) error {
	return cli.ReleasePrepare(ctx, version)
}

// exitCode makes a command's exit code mage's.
func exitCode(err error) error {
	var exit cli.ExitError
	if errors.As(err, &exit) {
		return mg.Fatal(exit.Code, exit.Error())
	}
	return err
}
