// Package login opens a shell logged in to a lab: the lab's kubeconfig (and talosconfig) in a
// private temporary directory, rewritten so clients reach the lab through a proxy this process
// serves, and the proxy variables set for everything else. The proxy lives as long as the
// shell; the directory is removed when it exits.
package login

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/internal/atomicfile"
	"github.com/cozylab/cozylab/lab/proxy"
)

// Options configure Run.
type Options struct {
	// Lab names the lab in the prompt and in COZYLAB_LAB.
	Lab string
	// Kubeconfig is the lab's kubeconfig; Talosconfig its talosconfig, when it has one.
	Kubeconfig, Talosconfig string
	// Server, when set, replaces the API server address of every cluster in the kubeconfig:
	// an address the lab's network resolves ("https://kubernetes.default.svc"), reached through
	// the proxy like everything else.
	Server string
	// Dial dials into the lab's network (provider.Network).
	Dial proxy.DialFunc
	// Shell is the shell to run; $SHELL, else /bin/sh, when empty.
	Shell string
	// Command, when set, is run by the shell (-c) instead of an interactive session.
	Command string
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
}

// Run runs the shell and returns its exit code.
func Run(ctx context.Context, o Options) (int, error) {
	dir, err := os.MkdirTemp("", "cozylab-login-") // 0700
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	srv, err := proxy.Listen(proxy.Options{Addr: "127.0.0.1:0", Dial: o.Dial})
	if err != nil {
		return 0, err
	}
	pctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- srv.Serve(pctx) }()
	defer func() { stop(); <-served }()

	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(o.Kubeconfig, kubeconfig, "socks5://"+srv.Addr(), o.Server); err != nil {
		return 0, err
	}
	env := append(os.Environ(),
		"KUBECONFIG="+kubeconfig,
		"ALL_PROXY=socks5h://"+srv.Addr(), "all_proxy=socks5h://"+srv.Addr(),
		"HTTPS_PROXY=http://"+srv.Addr(), "https_proxy=http://"+srv.Addr(),
		"HTTP_PROXY=http://"+srv.Addr(), "http_proxy=http://"+srv.Addr(),
		"NO_PROXY=localhost,127.0.0.1,::1", "no_proxy=localhost,127.0.0.1,::1",
		"COZYLAB_LAB="+o.Lab, "COZYLAB_PROXY="+srv.Addr(),
		"PS1=(cozylab:"+o.Lab+") \\w \\$ ",
	)
	if o.Talosconfig != "" {
		raw, err := os.ReadFile(o.Talosconfig)
		if err != nil {
			return 0, fmt.Errorf("read the lab's talosconfig: %w", err)
		}
		tc := filepath.Join(dir, "talosconfig")
		if err := atomicfile.WriteFile(tc, raw, 0o600); err != nil {
			return 0, err
		}
		env = append(env, "TALOSCONFIG="+tc)
	}
	shell := o.Shell
	if shell == "" {
		shell = os.Getenv("SHELL")
	}
	if shell == "" {
		shell = "/bin/sh"
	}
	args := []string{"-i"}
	if o.Command != "" {
		args = []string{"-c", o.Command}
	} else if filepath.Base(shell) == "bash" {
		// bash sets its prompt from the user's rc files after our PS1 arrives: an rc file
		// of the login's own reads them, then puts the lab's name in front.
		rc := filepath.Join(dir, "bashrc")
		script := "[ -f /etc/bash.bashrc ] && . /etc/bash.bashrc\n[ -f ~/.bashrc ] && . ~/.bashrc\nPS1=\"(cozylab:" + o.Lab + ") $PS1\"\n"
		if err := atomicfile.WriteFile(rc, []byte(script), 0o600); err != nil {
			return 0, err
		}
		args = []string{"--rcfile", rc, "-i"}
	}
	cmd := exec.CommandContext(ctx, shell, args...)
	cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, o.Stdin, o.Stdout, o.Stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), nil
	}
	if err != nil {
		return 0, fmt.Errorf("run %s: %w", shell, err)
	}
	return 0, nil
}

// writeKubeconfig copies the kubeconfig at from to to (0600), every cluster reached through
// proxyURL and, when server is set, at that address.
func writeKubeconfig(from, to, proxyURL, server string) error {
	cfg, err := clientcmd.LoadFromFile(from)
	if err != nil {
		return fmt.Errorf("read the lab's kubeconfig: %w", err)
	}
	for name, c := range cfg.Clusters {
		c.ProxyURL = proxyURL
		if server != "" {
			c.Server = strings.TrimSuffix(server, "/")
		}
		cfg.Clusters[name] = c
	}
	raw, err := clientcmd.Write(*cfg)
	if err != nil {
		return fmt.Errorf("write the login kubeconfig: %w", err)
	}
	return atomicfile.WriteFile(to, raw, 0o600)
}
