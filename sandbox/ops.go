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
	"strconv"
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

// The e2e run of sandbox:test lives in the pod, detached from any exec stream: its output,
// exit code and process id are files in the pod's _out.
const (
	runLog = "_out/sandbox-e2e.log"
	runRC  = "_out/sandbox-e2e.rc"
	runPID = "_out/sandbox-e2e.pid"
)

// startRun starts "$@" in the pod's working directory as a session of its own (an ended exec
// stream does not end it), output to runLog, exit code to runRC once it ends. runLog exists
// when it returns (before the detached shell may have run), so a follow right after it does not
// take the run for lost.
var startRun = runScripts(image.SrcDir).start

// runScripts are the shell scripts (busybox sh) that start and follow a detached run in dir.
func runScripts(dir string) (s struct{ start, follow string }) {
	s.start = `cd ` + dir + ` || exit 1
if [ -f ` + runPID + ` ] && kill -0 $(cat ` + runPID + `) 2>/dev/null && [ ! -f ` + runRC + ` ]; then
  echo "an e2e run is going in the pod already (pid $(cat ` + runPID + `))" >&2; exit 2
fi
rm -rf _out && mkdir -p _out && : > ` + runLog + ` || exit 1
setsid sh -c '"$@" > ` + runLog + ` 2>&1 </dev/null; echo $? > ` + runRC + `.tmp; mv ` + runRC + `.tmp ` + runRC + `' sh "$@" >/dev/null 2>&1 </dev/null &
echo $! > ` + runPID
	// follow prints runLog from byte $1 on as it grows and ends once runRC exists and the log
	// is printed to its end; exit code 3 when the run is gone without a result.
	s.follow = `cd ` + dir + ` || exit 3
off=$1
while :; do
  [ -f ` + runLog + ` ] || exit 3
  done=0; [ -f ` + runRC + ` ] && done=1
  size=$(wc -c < ` + runLog + `)
  if [ "$size" -gt "$off" ]; then tail -c +$((off+1)) ` + runLog + ` | head -c $((size-off)); off=$size; fi
  [ $done = 1 ] && exit 0
  kill -0 $(cat ` + runPID + `) 2>/dev/null || [ -f ` + runRC + ` ] || exit 3
  sleep 1
done`
	return s
}

// followRun follows the run started by startRun from byte $1 on.
var followRun = runScripts(image.SrcDir).follow

// Test runs the e2e pipeline in the pod against its lab (`cozylab e2e`, with env — E2E_*
// settings — added) and copies its reports (JUnit, diagnostics) into ReportDir(dir). The run
// is started detached in the pod and followed here, its output streamed to stdout: a dropped
// exec stream is followed again from where it stopped, not lost. The e2e's exit code is
// returned.
func (s *Sandbox) Test(ctx context.Context, env []string, stdout, stderr io.Writer, dir string) (int, error) {
	cmd := append([]string{"/bin/sh", "-c", startRun, "sh", "/usr/bin/env"}, env...)
	cmd = append(cmd, image.Entrypoint, "e2e")
	if _, err := s.output(ctx, cmd...); err != nil {
		return 0, fmt.Errorf("start the e2e in the sandbox pod: %w", err)
	}
	var seen int64
	for drops := 0; ; drops++ {
		out := &countingWriter{w: stdout}
		var errOut bytes.Buffer
		code, err := s.Run(ctx, []string{"/bin/sh", "-c", followRun, "sh", strconv.FormatInt(seen, 10)}, nil, out, &errOut)
		seen += out.n
		if err == nil && code == 0 {
			break
		}
		if err == nil && code == 3 {
			return 0, fmt.Errorf("the e2e run in the sandbox pod is gone without a result (did the pod restart?): run sandbox:test again")
		}
		if ctx.Err() != nil || drops >= 10 {
			return 0, fmt.Errorf("follow the e2e in the sandbox pod: exit code %d, %v %s", code, err, strings.TrimSpace(errOut.String()))
		}
		fmt.Fprintf(stderr, "sandbox:test: the stream from the pod ended (%v); following the run again from byte %d\n", err, seen)
	}
	raw, err := s.output(ctx, "/bin/cat", image.SrcDir+"/"+runRC)
	if err != nil {
		return 0, err
	}
	code, err := strconv.Atoi(strings.TrimSpace(string(raw)))
	if err != nil {
		return 0, fmt.Errorf("the e2e's exit code in the pod: %q", raw)
	}
	if cerr := s.copyReports(ctx, s.ReportDir(dir)); cerr != nil {
		return code, fmt.Errorf("copy the e2e's reports from the pod: %w", cerr)
	}
	return code, nil
}

// countingWriter counts what it passes on.
type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
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
