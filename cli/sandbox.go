package cli

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/choose"
	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/login"
	"github.com/cozylab/cozylab/lab/provider"
	"github.com/cozylab/cozylab/lab/proxy"
	"github.com/cozylab/cozylab/lab/qemu"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/lab/state"
	"github.com/cozylab/cozylab/sandbox"
)

// The sandbox verbs: a lab inside one privileged pod of a parent cluster. SANDBOX_KUBECONFIG
// names the parent (default: the current kubeconfig context), SANDBOX_NAMESPACE its namespace
// (default cozylab-sandbox), LAB_NAME the lab; SANDBOX_REGISTRY is where the image is pushed and
// pulled; SANDBOX_CPU, SANDBOX_MEMORY, SANDBOX_STORAGE_CLASS, SANDBOX_STORAGE_SIZE,
// SANDBOX_NODE_SELECTOR (k=v,…), SANDBOX_TOLERATIONS (key=value:Effect,…, or *) shape the pod;
// LAB_PROVIDER_IN_POD=auto|local|qemu picks the in-pod lab's provider; SANDBOX_KEEP_PVC=1 keeps
// the lab's volume on delete.

// SandboxOptions reads the sandbox's environment: the only place it is read.
func SandboxOptions(rep progress.Reporter) (sandbox.Options, error) {
	o := sandbox.Options{
		Kubeconfig: os.Getenv("SANDBOX_KUBECONFIG"), Namespace: os.Getenv("SANDBOX_NAMESPACE"), Lab: os.Getenv("LAB_NAME"),
		Registry: os.Getenv("SANDBOX_REGISTRY"), ProviderInPod: os.Getenv("LAB_PROVIDER_IN_POD"),
		CPU: os.Getenv("SANDBOX_CPU"), Memory: os.Getenv("SANDBOX_MEMORY"),
		StorageClass: os.Getenv("SANDBOX_STORAGE_CLASS"), StorageSize: os.Getenv("SANDBOX_STORAGE_SIZE"),
		RepoRoot: ".", Progress: rep,
	}
	if o.Lab != "" {
		if err := state.ValidateName(o.Lab); err != nil {
			return o, fmt.Errorf("LAB_NAME: %w", err)
		}
	}
	switch strings.ToLower(o.ProviderInPod) {
	case "", "auto", local.ProviderName, qemu.ProviderName:
	default:
		return o, fmt.Errorf("LAB_PROVIDER_IN_POD=%q: want auto, local or qemu", o.ProviderInPod)
	}
	var err error
	if o.NodeSelector, err = sandbox.ParseNodeSelector(os.Getenv("SANDBOX_NODE_SELECTOR")); err != nil {
		return o, err
	}
	if o.Tolerations, err = sandbox.ParseTolerations(os.Getenv("SANDBOX_TOLERATIONS")); err != nil {
		return o, err
	}
	if v := os.Getenv("SANDBOX_KEEP_PVC"); v != "" {
		if o.KeepPVC, err = strconv.ParseBool(v); err != nil {
			return o, fmt.Errorf("SANDBOX_KEEP_PVC=%q: want 1 or 0", v)
		}
	}
	return o, nil
}

func openSandbox(rep progress.Reporter) (*sandbox.Sandbox, error) {
	o, err := SandboxOptions(rep)
	if err != nil {
		return nil, err
	}
	return sandbox.Open(o)
}

// SandboxApply makes the sandbox (or brings it back to the same lab): image, namespace, the lab's volume and the pod; it waits for the in-pod lab, showing its progress.
func SandboxApply(ctx context.Context) error {
	return WithTerminal(func(term *progress.Terminal) error {
		sb, err := openSandbox(term)
		if err != nil {
			return err
		}
		if err := sb.Apply(ctx); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "Sandbox %s/%s is up. Next: sandbox:test (the e2e in the pod), sandbox:exec, sandbox:login, sandbox:proxy; sandbox:delete removes it.\n",
			sb.Namespace(), sb.Name())
		return nil
	})
}

// SandboxStatus shows the sandbox's pod and volume, and the in-pod lab's status.
func SandboxStatus(ctx context.Context) error {
	sb, err := openSandbox(nil)
	if err != nil {
		return err
	}
	st, err := sb.Status(ctx)
	if err != nil {
		return err
	}
	w := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(w, "Sandbox\t%s/%s\n", st.Namespace, st.Pod)
	fmt.Fprintf(w, "Phase\t%s\n", st.Phase)
	if st.Phase != "absent" {
		fmt.Fprintf(w, "Node\t%s\n", st.Node)
		fmt.Fprintf(w, "Image\t%s\n", st.Image)
		fmt.Fprintf(w, "Restarts\t%d\n", st.Restarts)
	}
	if st.Waiting != "" {
		fmt.Fprintf(w, "Waiting\t%s\n", st.Waiting)
	}
	if st.Volume != "" {
		fmt.Fprintf(w, "Volume\t%s\n", st.Volume)
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if st.Phase == "ready" || st.Phase == "running" {
		fmt.Println("\nThe lab in the pod:")
		if _, err := sb.Run(ctx, []string{"/opt/cozylab/bin/cozylab", "lab", "status"}, nil, os.Stdout, os.Stderr); err != nil {
			return err
		}
	}
	return nil
}

// SandboxDelete removes everything the sandbox made in the parent cluster (SANDBOX_KEEP_PVC=1 keeps the lab's volume).
func SandboxDelete(ctx context.Context) error {
	return WithTerminal(func(term *progress.Terminal) error {
		sb, err := openSandbox(term)
		if err != nil {
			return err
		}
		return sb.Delete(ctx)
	})
}

// SandboxExec runs a command in the sandbox pod (a login shell when none), with a terminal when this is one; its exit code is ours.
func SandboxExec(ctx context.Context, cmd []string) error {
	sb, err := openSandbox(nil)
	if err != nil {
		return err
	}
	code, err := sb.Exec(ctx, cmd, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		return ExitError{Code: code, What: "the command in the sandbox"}
	}
	return nil
}

// SandboxTest runs the e2e pipeline in the sandbox pod against its lab (E2E_* settings passed on), the output streamed here; its JUnit report and diagnostics are copied to _out/sandbox/<lab>.
func SandboxTest(ctx context.Context) error {
	start := time.Now()
	sb, err := openSandbox(nil)
	if err != nil {
		return err
	}
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "E2E_") {
			env = append(env, kv)
		}
	}
	code, err := sb.Test(ctx, env, os.Stdout, os.Stderr, ".")
	fmt.Fprintf(os.Stderr, "Sandbox e2e: exit code %d after %s; reports in %s\n", code, time.Since(start).Round(time.Second), sb.ReportDir("."))
	if err != nil {
		return err
	}
	if code != 0 {
		return ExitError{Code: code, What: "the e2e in the sandbox"}
	}
	return nil
}

// SandboxProxy serves the SOCKS5 (socks5h) and HTTP proxy into the in-pod lab's network on 127.0.0.1:1080 (PROXY_ADDR, PROXY_USER, PROXY_PASSWORD), through one port-forward connection to the pod that reconnects when the pod comes back.
func SandboxProxy(ctx context.Context) error {
	sb, err := openSandbox(nil)
	if err != nil {
		return err
	}
	dial, closer := sb.Dialer()
	defer closer.Close()
	return serveProxy(ctx, "sandbox "+sb.Namespace()+"/"+sb.Name(), dial)
}

// SandboxLogin opens a shell logged in to the in-pod lab: its kubeconfig in a private temporary directory, every client through the proxy to the pod; LOGIN_COMMAND runs a command instead. Its exit code is the shell's.
func SandboxLogin(ctx context.Context) error {
	sb, err := openSandbox(nil)
	if err != nil {
		return err
	}
	kc, err := sb.Kubeconfig(ctx)
	if err != nil {
		return fmt.Errorf("read the in-pod lab's kubeconfig: %w", err)
	}
	dir, err := os.MkdirTemp("", "cozylab-sandbox-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		return err
	}
	dial, closer := sb.Dialer()
	defer closer.Close()
	lab := "sandbox/" + sb.Name()
	return runLogin(ctx, login.Options{Lab: lab, Kubeconfig: path, Dial: dial})
}

// SandboxPod is the sandbox pod's program: it brings the in-pod lab up (resuming the one on the volume), serves the lab proxy on the pod's loopback, and stops the lab (keeping it) when the pod ends.
func SandboxPod(ctx context.Context) error {
	if sandbox.NeedsReaper() {
		os.Exit(sandbox.Reap())
	}
	s, err := LabSettings()
	if err != nil {
		return err
	}
	s.Provider = os.Getenv("LAB_PROVIDER_IN_POD")
	kind := strings.ToLower(s.Provider)
	why := "LAB_PROVIDER_IN_POD=" + kind
	if kind == "" || kind == "auto" {
		ok, reason := qemu.ProbeKVM(ctx)
		kind, why = local.ProviderName, "no KVM guest runs in this pod: "+reason
		if ok {
			kind, why = qemu.ProviderName, "a KVM guest runs in this pod: "+reason
		}
		s.ProbeKVM = func(context.Context) (bool, string) { return ok, reason }
	}
	s.Provider = kind
	mode := ""
	if kind == local.ProviderName {
		root, err := state.Root()
		if err != nil {
			return err
		}
		if err := os.MkdirAll(root, 0o700); err != nil {
			return err
		}
		switch real, why := sandbox.RealNodeHere(root, realnode.CheckPrerequisites); {
		case s.LocalNodes != "":
			mode = "; LAB_LOCAL_NODES=" + s.LocalNodes
		case real:
			s.LocalNodes, mode = state.LocalNodesReal, "; with a real node ("+why+")"
		default:
			s.LocalNodes, mode = state.LocalNodesKwok, "; simulated nodes only (kwok): "+why
		}
	}
	fmt.Fprintf(os.Stderr, "Sandbox pod: lab %s on the %s provider (%s)%s\n", cmp.Or(s.Name, choose.DefaultName), kind, why, mode)
	var p provider.Provider
	err = WithTerminal(func(term *progress.Terminal) error {
		lab, err := choose.Decide(ctx, s)
		if err != nil {
			return err
		}
		p = lab.Provider()
		return p.Up(ctx, term)
	})
	if err != nil {
		return err
	}
	defer func() {
		stop, cancel := context.WithTimeout(context.Background(), 50*time.Second)
		defer cancel()
		if s, ok := p.(interface{ Stop(context.Context) error }); ok {
			if err := s.Stop(stop); err != nil {
				fmt.Fprintln(os.Stderr, "stop the lab:", err)
			}
		}
	}()
	nw, ok := p.(provider.Network)
	if !ok {
		return fmt.Errorf("the %s provider has no proxy", p.Name())
	}
	dial, err := nw.Dialer()
	if err != nil {
		return err
	}
	srv, err := proxy.Listen(proxy.Options{Addr: fmt.Sprintf("127.0.0.1:%d", sandbox.ProxyPort), Dial: dial})
	if err != nil {
		return err
	}
	if err := os.WriteFile(sandbox.ReadyFile, nil, 0o644); err != nil {
		return err
	}
	defer os.Remove(sandbox.ReadyFile)
	fmt.Fprintf(os.Stderr, "Sandbox pod: lab %s is up; its proxy listens on %s in the pod.\n", cmp.Or(s.Name, choose.DefaultName), srv.Addr())
	if err := srv.Serve(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	fmt.Fprintln(os.Stderr, "Sandbox pod: stopping; the lab stays on the volume for the next pod.")
	return nil
}
