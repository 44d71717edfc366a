package controlplane

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
)

// Options configure Start.
type Options struct {
	// Etcd and APIServer are the binaries to run (from the binaries cache).
	Etcd, APIServer string
	// Root holds one directory per run; $TMPDIR/cozylab-controlplane when empty.
	Root string
	// Dir, when set, is the run directory itself instead of a new one under Root: its
	// credentials and etcd's data are reused when present, and Stop keeps it. A lab that
	// resumes starts its control plane again on the same data this way.
	Dir string
	// Address is where kube-apiserver serves and what it advertises (the kubernetes Service's
	// endpoint); 127.0.0.1 when unset. A lab with a real node gives the address the node
	// reaches the host on; it is in the serving certificate either way.
	Address netip.Addr
	// ServiceCIDR is the service IP range; 10.96.0.0/16 when empty.
	ServiceCIDR string
	// Fsync makes etcd sync its writes; off by default, as a lab's data is disposable.
	Fsync bool
	// ExtraAPIServerArgs are appended to kube-apiserver's flags and override ours.
	ExtraAPIServerArgs []string
	// ControllerManager, when set, is a kube-controller-manager binary started once the
	// apiserver is ready (garbage collection, namespace deletion, service accounts).
	ControllerManager string
	// Scheduler, when set, is a kube-scheduler binary started once the apiserver is ready.
	Scheduler string
	// ReadyTimeout bounds the wait for /readyz; one minute when zero.
	ReadyTimeout time.Duration
	// Progress receives the start step; progress.Discard when nil.
	Progress progress.Reporter
}

// ControlPlane is a running etcd + kube-apiserver.
type ControlPlane struct {
	// Dir is the run directory: credentials, data, logs.
	Dir string
	// Kubeconfig is the path of the admin kubeconfig (0600).
	Kubeconfig string
	// URL is the apiserver's https URL.
	URL string
	// CACertFile and CAKeyFile are the cluster CA's: a real node's certificates are issued
	// from it, and the API server trusts clients and kubelets it signed.
	CACertFile, CAKeyFile string
	// StartupTime is how long Start took, from the first process start to /readyz answering 200.
	StartupTime time.Duration

	group     *process.Group
	etcd      *process.Process
	apiserver *process.Process
	kcm       *process.Process
	scheduler *process.Process
	cfg       *rest.Config

	apiserverSpec process.Spec
	// keep is set when the run directory is the caller's (Options.Dir): Stop leaves it.
	keep bool
}

// maxAttempts bounds retries after a port was taken between our pick and the component's bind.
const maxAttempts = 3

// DefaultRoot is where run directories go unless Options.Root says otherwise.
func DefaultRoot() string { return filepath.Join(os.TempDir(), "cozylab-controlplane") }

// Start runs a control plane and returns once the apiserver reports ready.
func Start(ctx context.Context, o Options) (*ControlPlane, error) {
	if o.Root == "" {
		o.Root = DefaultRoot()
	}
	if o.ServiceCIDR == "" {
		o.ServiceCIDR = "10.96.0.0/16"
	}
	if o.ReadyTimeout == 0 {
		o.ReadyTimeout = time.Minute
	}
	if !o.Address.IsValid() {
		o.Address = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	if o.Progress == nil {
		o.Progress = progress.Discard
	}
	for name, bin := range map[string]string{"etcd": o.Etcd, "kube-apiserver": o.APIServer} {
		if bin == "" {
			return nil, fmt.Errorf("start control plane: no %s binary given (get one from the binaries cache: go run mage.go bins)", name)
		}
	}
	serviceIP, err := firstServiceIP(o.ServiceCIDR)
	if err != nil {
		return nil, err
	}
	step := o.Progress.Begin("Starting control plane (etcd, kube-apiserver)")
	if err := os.MkdirAll(o.Root, 0o700); err != nil {
		return nil, step.Done(fmt.Errorf("create control-plane root %s: %w", o.Root, err))
	}
	if o.Dir != "" {
		// A fixed directory is its owner's to clean up; nothing to sweep.
	} else if swept, err := process.Sweep(o.Root); err != nil {
		return nil, step.Done(fmt.Errorf("sweep stale control planes: %w", err))
	} else if len(swept) > 0 {
		step.Status("removed %d stale run directories of killed runs", len(swept))
	}
	var cp *ControlPlane
	for attempt := 1; ; attempt++ {
		cp, err = start(ctx, o, serviceIP, step)
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || attempt == maxAttempts {
			return nil, step.Done(err)
		}
		step.Status("a port was taken before we bound it; retrying on fresh ports (attempt %d/%d)", attempt+1, maxAttempts)
	}
	step.Done(nil)
	return cp, nil
}

var errPortTaken = errors.New("port already in use")

// pickPorts chooses the ports of one attempt; tests replace it to force a collision.
var pickPorts = freePorts

func start(ctx context.Context, o Options, serviceIP net.IP, step progress.Step) (_ *ControlPlane, err error) {
	dir := o.Dir
	if dir == "" {
		if dir, err = os.MkdirTemp(o.Root, "run-"); err != nil {
			return nil, fmt.Errorf("create run directory in %s: %w", o.Root, err)
		}
	}
	group, err := process.NewGroup(dir)
	if err != nil {
		if o.Dir != "" {
			return nil, err
		}
		return nil, errors.Join(err, os.RemoveAll(dir))
	}
	cp := &ControlPlane{Dir: dir, Kubeconfig: filepath.Join(dir, "kubeconfig"), group: group, keep: o.Dir != ""}
	defer func() {
		if err != nil {
			err = errors.Join(err, cp.Stop(context.WithoutCancel(ctx)))
		}
	}()
	free, err := pickPorts(3)
	if err != nil {
		return nil, err
	}
	if !o.Address.IsLoopback() {
		if free[2], err = freePortOn(o.Address); err != nil {
			return nil, err
		}
	}
	p := ports{etcdClient: free[0], etcdPeer: free[1], apiserver: free[2], address: o.Address}
	creds, err := loadOrWriteCredentials(dir, serviceIP, net.IP(o.Address.AsSlice()))
	if err != nil {
		return nil, err
	}
	cp.URL = "https://" + net.JoinHostPort(o.Address.String(), strconv.Itoa(p.apiserver))
	cp.CACertFile, cp.CAKeyFile = creds.caCert, creds.caKey
	if err := writeKubeconfig(cp.Kubeconfig, cp.URL, creds); err != nil {
		return nil, err
	}
	if cp.cfg, err = clientcmd.BuildConfigFromFlags("", cp.Kubeconfig); err != nil {
		return nil, fmt.Errorf("load kubeconfig %s: %w", cp.Kubeconfig, err)
	}
	began := time.Now()
	if cp.etcd, err = group.Start(etcdSpec(o.Etcd, dir, p, o.Fsync)); err != nil {
		return nil, err
	}
	// kube-apiserver gives up (exits) when etcd does not answer within its storage-factory
	// timeout, which a starved etcd on a loaded host can exceed: start it once etcd serves.
	poll := condition.Poll{Interval: 100 * time.Millisecond, Timeout: o.ReadyTimeout}
	if err := condition.Wait(ctx, cp.etcdHealth(p.etcdClient), poll, condition.StepReporter(step)); err != nil {
		return nil, err
	}
	cp.apiserverSpec = apiserverSpec(o.APIServer, dir, p, creds, o.ServiceCIDR, o.ExtraAPIServerArgs)
	if cp.apiserver, err = group.Start(cp.apiserverSpec); err != nil {
		return nil, err
	}
	if err := condition.Wait(ctx, cp.readyz(), poll, condition.StepReporter(step)); err != nil {
		return nil, err
	}
	if o.ControllerManager != "" {
		if cp.kcm, err = cp.startWithHealthz(ctx, o, step, func(port int) process.Spec {
			return controllerManagerSpec(o.ControllerManager, dir, cp.Kubeconfig, port, creds, o.ServiceCIDR)
		}); err != nil {
			return nil, err
		}
	}
	if o.Scheduler != "" {
		if cp.scheduler, err = cp.startWithHealthz(ctx, o, step, func(port int) process.Spec {
			return schedulerSpec(o.Scheduler, dir, cp.Kubeconfig, port)
		}); err != nil {
			return nil, err
		}
	}
	cp.StartupTime = time.Since(began)
	return cp, nil
}

// readyz is the condition "kube-apiserver /readyz": 200 from the apiserver, while both
// processes live. A process that exits ends the wait with its log tail.
func (cp *ControlPlane) readyz() condition.Condition {
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool(cp.cfg.CAData)},
	}}
	return condition.Condition{
		Name: "kube-apiserver /readyz",
		Check: func(ctx context.Context) error {
			if err := exitedOf(cp.etcd, cp.apiserver); err != nil {
				return err
			}
			return getOK(ctx, client, cp.URL+"/readyz?verbose", cp.cfg.BearerToken, failingChecks)
		},
	}
}

// etcdHealth is the condition "etcd /health": 200 from etcd's client port (it has a leader
// and serves reads), while etcd lives.
func (cp *ControlPlane) etcdHealth(port int) condition.Condition {
	client := &http.Client{Timeout: 2 * time.Second}
	url := "http://127.0.0.1:" + strconv.Itoa(port) + "/health"
	return condition.Condition{
		Name: "etcd /health",
		Check: func(ctx context.Context) error {
			if err := exitedOf(cp.etcd); err != nil {
				return err
			}
			return getOK(ctx, client, url, "", strings.TrimSpace)
		},
	}
}

// getOK is one health request: nil on 200, "not answering yet" when nothing answers, else the
// status and what detail makes of the body (nil: the status alone). token, when set, is sent
// as a bearer token.
func getOK(ctx context.Context, client *http.Client, url, token string, detail func(string) string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return condition.Permanent(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return errors.New("not answering yet")
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode == http.StatusOK {
		return nil
	}
	if detail == nil {
		return fmt.Errorf("HTTP %d", resp.StatusCode)
	}
	return fmt.Errorf("HTTP %d %s", resp.StatusCode, detail(string(body)))
}

// exitedOf ends a wait for good when one of procs has exited, with its log tail (a port taken
// between our pick and its bind is told apart, so Start retries on fresh ports).
func exitedOf(procs ...*process.Process) error {
	for _, p := range procs {
		select {
		case <-p.Exited():
			tail := p.LogTail(15)
			err := fmt.Errorf("%w; last lines of %s:\n%s", p.ExitError(), p.LogPath, tail)
			if strings.Contains(tail, "address already in use") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
			return condition.Permanent(err)
		default:
		}
	}
	return nil
}

// failingChecks picks the "[-]check failed" lines out of a verbose /readyz body.
func failingChecks(body string) string {
	var failed []string
	for _, l := range strings.Split(body, "\n") {
		if strings.HasPrefix(l, "[-]") {
			failed = append(failed, strings.Fields(strings.TrimPrefix(l, "[-]"))[0])
		}
	}
	return strings.Join(failed, ", ")
}

func pool(pemData []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemData)
	return p
}

func firstServiceIP(cidr string) (net.IP, error) {
	_, n, err := net.ParseCIDR(cidr)
	if err != nil || n.IP.To4() == nil {
		return nil, fmt.Errorf("service CIDR %q: want an IPv4 CIDR such as 10.96.0.0/16", cidr)
	}
	ip := n.IP.To4()
	return net.IPv4(ip[0], ip[1], ip[2], ip[3]+1), nil
}

// RESTConfig returns a copy of the admin client configuration.
func (cp *ControlPlane) RESTConfig() *rest.Config { return rest.CopyConfig(cp.cfg) }

// Pids returns the process ids of etcd, kube-apiserver and (when started)
// kube-controller-manager and kube-scheduler, for leak checks.
func (cp *ControlPlane) Pids() []int {
	var out []int
	for _, p := range []*process.Process{cp.etcd, cp.apiserver, cp.kcm, cp.scheduler} {
		if p != nil {
			out = append(out, p.Pid())
		}
	}
	return out
}

// Stop stops kube-apiserver, then etcd (stopping etcd first makes the apiserver hang for half
// a minute retrying it), and removes the run directory unless it was Options.Dir.
func (cp *ControlPlane) Stop(ctx context.Context) error {
	err := cp.group.Stop(ctx)
	if cp.keep {
		return err
	}
	if rmErr := os.RemoveAll(cp.Dir); rmErr != nil {
		err = errors.Join(err, fmt.Errorf("remove run directory %s: %w", cp.Dir, rmErr))
	}
	return err
}

// RestartAPIServer stops kube-apiserver and starts it again on the same port and data, as a
// control-plane upgrade or crash would, and waits for /readyz. Clients see connection errors
// meanwhile; it is for testing that they recover.
func (cp *ControlPlane) RestartAPIServer(ctx context.Context) error {
	spec := cp.apiserverSpec
	if err := cp.apiserver.Stop(ctx); err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	p, err := cp.group.Start(spec)
	if err != nil {
		return fmt.Errorf("restart kube-apiserver: %w", err)
	}
	cp.apiserver = p
	return condition.Wait(ctx, cp.readyz(), condition.Poll{Interval: 100 * time.Millisecond, Timeout: time.Minute}, nil)
}

// StartProcess runs another program in the control plane's process group (kwok, Flux
// controllers): it logs into the run directory and stops with the control plane.
func (cp *ControlPlane) StartProcess(spec process.Spec) (*process.Process, error) {
	return cp.group.Start(spec)
}
