package sandbox

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"

	xproxy "golang.org/x/net/proxy"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/lab/proxy"
	"github.com/cozylab/cozylab/sandbox/image"
	"github.com/cozylab/cozylab/sandbox/kube"
)

// running returns the pod's name once its container runs, else an error saying what to do.
func (s *Sandbox) running(ctx context.Context) (string, error) {
	pod, err := s.cs.CoreV1().Pods(s.o.Namespace).Get(ctx, s.Name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return "", fmt.Errorf("no sandbox %s in namespace %s: run `go run mage.go sandbox:apply` first", s.o.Lab, s.o.Namespace)
	} else if err != nil {
		return "", err
	}
	for _, c := range pod.Status.ContainerStatuses {
		if c.State.Running != nil {
			return pod.Name, nil
		}
	}
	return "", fmt.Errorf("sandbox pod %s/%s is %s, its container not running: `go run mage.go sandbox:status` shows why, sandbox:apply brings it back",
		s.o.Namespace, pod.Name, pod.Status.Phase)
}

// Exec runs cmd in the sandbox's container (a shell when empty) and returns its exit code:
// interactive with a terminal when in and out are one (raw mode, window size), else with
// stdin and separate stderr, for scripts.
func (s *Sandbox) Exec(ctx context.Context, cmd []string, in, out *os.File, errOut io.Writer) (int, error) {
	pod, err := s.running(ctx)
	if err != nil {
		return 0, err
	}
	if len(cmd) == 0 {
		cmd = []string{"/bin/sh", "-l"}
	}
	return kube.Terminal(ctx, s.cfg, s.o.Namespace, pod, container, cmd, in, out, errOut)
}

// Run runs cmd in the sandbox's container without a terminal and returns its exit code.
func (s *Sandbox) Run(ctx context.Context, cmd []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	pod, err := s.running(ctx)
	if err != nil {
		return 0, err
	}
	return kube.Exec(ctx, s.cfg, kube.ExecOptions{Namespace: s.o.Namespace, Pod: pod, Container: container,
		Command: cmd, Stdin: stdin, Stdout: stdout, Stderr: stderr})
}

// output runs cmd and returns its stdout; a non-zero exit is an error with its stderr.
func (s *Sandbox) output(ctx context.Context, cmd ...string) ([]byte, error) {
	var stdout, stderr bytes.Buffer
	code, err := s.Run(ctx, cmd, nil, &stdout, &stderr)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("%s in the sandbox pod: exit code %d: %s", strings.Join(cmd, " "), code, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Test runs the e2e pipeline in the pod against its lab (`cozylab e2e`, with env — E2E_*
// settings — added), its output streamed here, and copies its reports (JUnit, diagnostics)
// into ReportDir(dir). The e2e's exit code is returned.
func (s *Sandbox) Test(ctx context.Context, env []string, stdout, stderr io.Writer, dir string) (int, error) {
	cmd := append([]string{"/usr/bin/env"}, env...)
	cmd = append(cmd, image.Entrypoint, "e2e")
	code, err := s.Run(ctx, cmd, nil, stdout, stderr)
	if err != nil {
		return code, fmt.Errorf("run the e2e in the sandbox pod: %w", err)
	}
	to := s.ReportDir(dir)
	if cerr := s.copyReports(ctx, to); cerr != nil {
		return code, fmt.Errorf("copy the e2e's reports from the pod: %w", cerr)
	}
	return code, nil
}

// copyReports copies the pod's _out (in its working directory) into to, replacing what an
// earlier run left there.
func (s *Sandbox) copyReports(ctx context.Context, to string) error {
	raw, err := s.output(ctx, "/bin/tar", "-C", image.SrcDir+"/_out", "-cf", "-", ".")
	if err != nil {
		return err
	}
	if err := os.RemoveAll(to); err != nil {
		return err
	}
	tr := tar.NewReader(bytes.NewReader(raw))
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := filepath.Clean(filepath.FromSlash(h.Name))
		if name == "." || strings.HasPrefix(name, "..") || filepath.IsAbs(name) {
			continue
		}
		p := filepath.Join(to, name)
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if err = errors.Join(err, f.Close()); err != nil {
				return err
			}
		}
	}
}

// Kubeconfig is the in-pod lab's admin kubeconfig, read from the pod.
func (s *Sandbox) Kubeconfig(ctx context.Context) ([]byte, error) {
	path, err := s.output(ctx, image.Entrypoint, "lab", "kubeconfig")
	if err != nil {
		return nil, err
	}
	return s.output(ctx, "/bin/cat", strings.TrimSpace(string(path)))
}

// Dialer dials into the in-pod lab's network: every connection is a new stream of one
// port-forward connection to the pod's proxy, which it asks (SOCKS5, names resolved in the
// pod) for the target. Close ends the port-forward.
func (s *Sandbox) Dialer() (proxy.DialFunc, io.Closer) {
	f := &kube.Forwarder{Config: s.cfg, Namespace: s.o.Namespace, Port: ProxyPort, Pod: s.running}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		d, err := xproxy.SOCKS5("tcp", "pod", nil, streamDialer{f})
		if err != nil {
			return nil, err
		}
		return d.(xproxy.ContextDialer).DialContext(ctx, network, address)
	}
	return dial, f
}

// streamDialer gives x/net/proxy's SOCKS5 client a new forwarded stream to the pod's proxy
// for each connection.
type streamDialer struct{ f *kube.Forwarder }

func (d streamDialer) Dial(network, addr string) (net.Conn, error) {
	return d.f.Dial(context.Background())
}

func (d streamDialer) DialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	return d.f.Dial(ctx)
}
