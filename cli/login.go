package cli

import (
	"context"
	"fmt"
	"os"

	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/login"
)

// Login opens a shell logged in to the lab: KUBECONFIG (and TALOSCONFIG) in a private temporary directory, clients reaching the lab through a proxy that lives as long as the shell, ALL_PROXY/HTTPS_PROXY/HTTP_PROXY set; LOGIN_COMMAND runs a command instead of an interactive shell. Its exit code is the shell's.
func Login(ctx context.Context) error {
	p, dial, err := labNetwork()
	if err != nil {
		return err
	}
	o := login.Options{Lab: os.Getenv("LAB_NAME"), Kubeconfig: p.Kubeconfig(), Dial: dial}
	if lp, ok := p.(*local.Provider); ok {
		o.Lab = lp.Request.Name
		if lp.Request.RealNode() {
			// The in-cluster name: only the lab's DNS knows it, so every request goes through
			// the proxy, as from a pod.
			o.Server = "https://kubernetes.default.svc"
		}
	}
	return runLogin(ctx, o)
}

// runLogin runs the login shell of o (LOGIN_COMMAND instead of an interactive one) on this
// terminal; a non-zero exit is an ExitError.
func runLogin(ctx context.Context, o login.Options) error {
	o.Command, o.Stdin, o.Stdout, o.Stderr = os.Getenv("LOGIN_COMMAND"), os.Stdin, os.Stdout, os.Stderr
	if o.Command == "" {
		fmt.Fprintf(os.Stderr, "Logged in to lab %s: KUBECONFIG and the proxy variables are set; exit leaves.\n", o.Lab)
	}
	code, err := login.Run(ctx, o)
	if err != nil {
		return err
	}
	if code != 0 {
		return ExitError{Code: code, What: "the shell"}
	}
	return nil
}
