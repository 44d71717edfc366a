// Command cozylab runs the harness without Go or mage — in the sandbox pod, in CI, on a user's
// machine: the same verbs as the mage targets, done by the same library (package cli), with
// the same environment settings (LAB_*, E2E_*, PROXY_*, LOGIN_COMMAND). Run it from a checkout
// of this repository (the lab builds its daemon and images from it).
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/cozylab/cozylab/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:])
	stop()
	os.Exit(code)
}

// run executes cozylab with args and returns its exit code: a command's own exit code (login),
// 1 after printing any other error, 0.
func run(ctx context.Context, args []string) int {
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	var exit cli.ExitError
	switch {
	case errors.As(err, &exit):
		return exit.Code
	case err != nil:
		fmt.Fprintln(os.Stderr, "cozylab:", err)
		return 1
	}
	return 0
}

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:           "cozylab",
		Short:         "The bare-metal lab, test harness and operator of a Cozystack-style platform",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	verb := func(use, short string, args cobra.PositionalArgs, run func(ctx context.Context, args []string) error) *cobra.Command {
		return &cobra.Command{Use: use, Short: short, Args: args, RunE: func(cmd *cobra.Command, args []string) error {
			return run(cmd.Context(), args)
		}}
	}
	none := cobra.NoArgs
	lab := &cobra.Command{Use: "lab", Short: "A lab on its own (LAB_PROVIDER, LAB_NAME, …)"}
	lab.AddCommand(
		verb("up", "Brings a lab up (or resumes one) and leaves it running", none, func(ctx context.Context, _ []string) error { return cli.LabUp(ctx) }),
		verb("down", "Removes the lab and everything it made", none, func(ctx context.Context, _ []string) error { return cli.LabDown(ctx) }),
		verb("status", "Shows the lab's phase, nodes and components", none, func(ctx context.Context, _ []string) error { return cli.LabStatus(ctx) }),
		verb("kubeconfig", "Prints the lab's kubeconfig path (LAB_KUBECONFIG_MERGE=1 merges it)", none, func(ctx context.Context, _ []string) error { return cli.LabKubeconfig(ctx) }),
		verb("console NODE", "Follows a QEMU node's serial log", cobra.ExactArgs(1), func(ctx context.Context, a []string) error { return cli.LabConsole(ctx, a[0]) }),
	)
	e2e := verb("e2e", "Brings the whole platform up on a lab and checks it (E2E_*)", none, func(ctx context.Context, _ []string) error { return cli.E2E(ctx) })
	e2e.AddCommand(verb("upgrade", "The upgrade lane: from E2E_FROM (default the last release) to the working tree", none,
		func(ctx context.Context, _ []string) error { return cli.E2EUpgrade(ctx) }))
	release := &cobra.Command{Use: "release", Short: "Releases"}
	release.AddCommand(verb("prepare VERSION", "Stamps VERSION into release.json, the chart versions and the operator", cobra.ExactArgs(1),
		func(ctx context.Context, a []string) error { return cli.ReleasePrepare(ctx, a[0]) }))
	sb := &cobra.Command{Use: "sandbox", Short: "A lab in a privileged pod of a parent cluster (SANDBOX_*, LAB_NAME)"}
	sb.AddCommand(
		verb("apply", "Makes the sandbox (or brings it back to the same lab) and waits for the in-pod lab", none,
			func(ctx context.Context, _ []string) error { return cli.SandboxApply(ctx) }),
		verb("test", "Runs the e2e in the sandbox pod; reports copied to _out/sandbox/<lab>", none,
			func(ctx context.Context, _ []string) error { return cli.SandboxTest(ctx) }),
		verb("status", "Shows the sandbox's pod, volume and in-pod lab", none,
			func(ctx context.Context, _ []string) error { return cli.SandboxStatus(ctx) }),
		verb("delete", "Removes everything the sandbox made (SANDBOX_KEEP_PVC=1 keeps the lab's volume)", none,
			func(ctx context.Context, _ []string) error { return cli.SandboxDelete(ctx) }),
		verb("exec [-- COMMAND ARGS…]", "A shell (or the command) in the sandbox pod; its exit code is ours", cobra.ArbitraryArgs,
			func(ctx context.Context, a []string) error { return cli.SandboxExec(ctx, a) }),
		verb("proxy", "SOCKS5 and HTTP proxy into the in-pod lab on 127.0.0.1:1080 through one port-forward", none,
			func(ctx context.Context, _ []string) error { return cli.SandboxProxy(ctx) }),
		verb("login", "A shell logged in to the in-pod lab through the proxy (LOGIN_COMMAND runs a command instead)", none,
			func(ctx context.Context, _ []string) error { return cli.SandboxLogin(ctx) }),
		&cobra.Command{Use: "pod", Short: "The sandbox pod's program (runs in the pod)", Hidden: true, Args: none,
			RunE: func(cmd *cobra.Command, _ []string) error { return cli.SandboxPod(cmd.Context()) }},
	)
	root.AddCommand(lab, e2e, release, sb,
		verb("proxy", "SOCKS5 and HTTP proxy into the lab's network on 127.0.0.1:1080 (PROXY_ADDR, PROXY_USER, PROXY_PASSWORD)", none,
			func(ctx context.Context, _ []string) error { return cli.Proxy(ctx) }),
		verb("login", "A shell logged in to the lab through the proxy (LOGIN_COMMAND runs a command instead)", none,
			func(ctx context.Context, _ []string) error { return cli.Login(ctx) }),
	)
	return root
}
