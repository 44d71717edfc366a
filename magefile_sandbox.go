//go:build mage

package main

import (
	"context"
	"os"

	"github.com/magefile/mage/mg"

	"github.com/cozylab/cozylab/cli"
)

// Sandbox groups the sandbox targets: a lab inside one privileged pod of a parent cluster.
// SANDBOX_KUBECONFIG names the parent (default: the current kubeconfig context),
// SANDBOX_NAMESPACE its namespace (default cozylab-sandbox), LAB_NAME the lab; SANDBOX_REGISTRY
// is where the image is pushed and pulled; SANDBOX_CPU, SANDBOX_MEMORY, SANDBOX_STORAGE_CLASS,
// SANDBOX_STORAGE_SIZE, SANDBOX_NODE_SELECTOR, SANDBOX_TOLERATIONS shape the pod;
// LAB_PROVIDER_IN_POD=auto|local|qemu picks the in-pod lab's provider.
type Sandbox mg.Namespace

// Apply makes the sandbox (or brings it back to the same lab): image, namespace, the lab's volume and the pod; it waits for the in-pod lab, showing its progress.
func (Sandbox) Apply(ctx context.Context) error { return cli.SandboxApply(ctx) }

// Test runs the e2e pipeline in the sandbox pod against its lab (E2E_* passed on); its JUnit report and diagnostics are copied to _out/sandbox/<lab>.
func (Sandbox) Test(ctx context.Context) error { return exitCode(cli.SandboxTest(ctx)) }

// Status shows the sandbox's pod and volume, and the in-pod lab's status.
func (Sandbox) Status(ctx context.Context) error { return cli.SandboxStatus(ctx) }

// Delete removes everything the sandbox made in the parent cluster (SANDBOX_KEEP_PVC=1 keeps the lab's volume).
func (Sandbox) Delete(ctx context.Context) error { return cli.SandboxDelete(ctx) }

// Exec opens a shell in the sandbox pod (SANDBOX_COMMAND runs a command with sh -c instead); its exit code is ours.
func (Sandbox) Exec(ctx context.Context) error {
	var cmd []string
	if c := os.Getenv("SANDBOX_COMMAND"); c != "" {
		cmd = []string{"/bin/sh", "-c", c}
	}
	return exitCode(cli.SandboxExec(ctx, cmd))
}

// Proxy serves a SOCKS5 (socks5h) and HTTP proxy into the in-pod lab's network on 127.0.0.1:1080 (PROXY_ADDR, PROXY_USER, PROXY_PASSWORD) through one port-forward connection to the pod.
func (Sandbox) Proxy(ctx context.Context) error { return cli.SandboxProxy(ctx) }

// Login opens a shell logged in to the in-pod lab through the proxy (LOGIN_COMMAND runs a command instead); its exit code is the shell's.
func (Sandbox) Login(ctx context.Context) error { return exitCode(cli.SandboxLogin(ctx)) }
