package kube

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/url"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes/scheme"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/remotecommand"
	utilexec "k8s.io/client-go/util/exec"
)

// ExecOptions say what to run in which container and where its streams go. A nil stream is not
// attached.
type ExecOptions struct {
	Namespace, Pod, Container string
	Command                   []string
	Stdin                     io.Reader
	Stdout, Stderr            io.Writer
	// TTY gives the command a terminal; its stderr then arrives merged into Stdout, so Stderr
	// is not used.
	TTY bool
	// Sizes reports the terminal's size and its changes (optional, TTY only); it must return
	// nil once the command has ended, or its reader leaks.
	Sizes remotecommand.TerminalSizeQueue
}

// Exec runs the command and returns its exit code (a non-zero remote exit is a code, not an
// error); err only for failures to run it.
func Exec(ctx context.Context, cfg *rest.Config, o ExecOptions) (int, error) {
	if len(o.Command) == 0 {
		return 0, fmt.Errorf("exec in pod %s/%s: no command given", o.Namespace, o.Pod)
	}
	stderr, sizes := o.Stderr, o.Sizes
	if o.TTY {
		stderr = nil
	} else {
		sizes = nil
	}
	u, err := subresourceURL(cfg, o.Namespace, o.Pod, "exec", &corev1.PodExecOptions{
		Container: o.Container, Command: o.Command, TTY: o.TTY,
		Stdin: o.Stdin != nil, Stdout: o.Stdout != nil, Stderr: stderr != nil,
	})
	if err != nil {
		return 0, err
	}
	ex, err := newExecutor(cfg, u)
	if err != nil {
		return 0, fmt.Errorf("exec in pod %s/%s: %w", o.Namespace, o.Pod, err)
	}
	err = ex.StreamWithContext(ctx, remotecommand.StreamOptions{
		Stdin: o.Stdin, Stdout: o.Stdout, Stderr: stderr, Tty: o.TTY, TerminalSizeQueue: sizes,
	})
	var exit utilexec.ExitError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &exit) && exit.Exited():
		return exit.ExitStatus(), nil
	}
	return 0, fmt.Errorf("exec %q in pod %s/%s: %w", o.Command[0], o.Namespace, o.Pod, err)
}

// newExecutor is kubectl's: the WebSocket protocol (GET, as RFC 6455 requires; v5 carries
// stdin's end) first, SPDY (POST) when the upgrade fails or an HTTPS proxy is in the way.
func newExecutor(cfg *rest.Config, u *url.URL) (remotecommand.Executor, error) {
	spdy, err := remotecommand.NewSPDYExecutor(cfg, "POST", u)
	if err != nil {
		return nil, err
	}
	ws, err := remotecommand.NewWebSocketExecutor(cfg, "GET", u.String())
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, shouldFallback)
}

// shouldFallback is kubectl's test for leaving the WebSocket transport for SPDY.
func shouldFallback(err error) bool {
	return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
}

// subresourceURL is the URL of a pod's subresource (exec, portforward) with params encoded
// as query parameters (nil for none).
func subresourceURL(cfg *rest.Config, ns, pod, sub string, params *corev1.PodExecOptions) (*url.URL, error) {
	client, err := corev1client.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("make a client for pod %s/%s: %w", ns, pod, err)
	}
	req := client.RESTClient().Post().Resource("pods").Namespace(ns).Name(pod).SubResource(sub)
	if params != nil {
		req = req.VersionedParams(params, scheme.ParameterCodec)
	}
	return req.URL(), nil
}
