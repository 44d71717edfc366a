package controlplane

import (
	"fmt"
	"net"
	"net/netip"
	"path/filepath"
	"strconv"
	"time"

	"github.com/cozylab/cozylab/internal/process"
)

// ports are the loopback ports one run listens on.
type ports struct {
	etcdClient, etcdPeer, apiserver int
	// address is where the apiserver binds.
	address netip.Addr
}

// freePortOn asks the kernel for a free port on addr.
func freePortOn(addr netip.Addr) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(addr.String(), "0"))
	if err != nil {
		return 0, fmt.Errorf("find a free port on %s (is that address on this host?): %w", addr, err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// freePorts asks the kernel for n distinct free loopback ports. Another program may take one
// before our component binds it; Start detects that and retries on fresh ports.
func freePorts(n int) ([]int, error) {
	var ls []net.Listener
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	var out []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("find a free loopback port (is the loopback interface up?): %w", err)
		}
		ls = append(ls, l)
		out = append(out, l.Addr().(*net.TCPAddr).Port)
	}
	return out, nil
}

func etcdSpec(bin, dir string, p ports, fsync bool) process.Spec {
	client := "http://127.0.0.1:" + strconv.Itoa(p.etcdClient)
	peer := "http://127.0.0.1:" + strconv.Itoa(p.etcdPeer)
	args := []string{
		"--name=cozylab",
		"--data-dir=" + filepath.Join(dir, "etcd"),
		"--listen-client-urls=" + client, "--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer, "--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=cozylab=" + peer,
		"--quota-backend-bytes=4294967296",
		"--log-level=warn",
	}
	if !fsync {
		args = append(args, "--unsafe-no-fsync")
	}
	return process.Spec{Name: "etcd", Path: bin, Args: args}
}

func apiserverSpec(bin, dir string, p ports, c credentials, serviceCIDR string, extra []string) process.Spec {
	args := []string{
		"--etcd-servers=http://127.0.0.1:" + strconv.Itoa(p.etcdClient),
		"--bind-address=" + p.address.String(), "--advertise-address=" + p.address.String(),
		"--secure-port=" + strconv.Itoa(p.apiserver),
		"--tls-cert-file=" + c.servingCert, "--tls-private-key-file=" + c.servKey,
		"--client-ca-file=" + c.caCert, "--token-auth-file=" + c.tokens,
		// A real cluster's: nodes are authorized as nodes, and may only change their own objects.
		"--authorization-mode=Node,RBAC",
		"--enable-admission-plugins=NodeRestriction",
		"--kubelet-client-certificate=" + c.kubeletCert, "--kubelet-client-key=" + c.kubeletKey,
		"--kubelet-certificate-authority=" + c.caCert,
		"--kubelet-preferred-address-types=InternalIP,Hostname",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + c.saPub, "--service-account-signing-key-file=" + c.saKey,
		"--service-cluster-ip-range=" + serviceCIDR,
		"--allow-privileged=true",
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
	}
	// Later flags win, so callers can override any of ours.
	args = append(args, extra...)
	return process.Spec{Name: "kube-apiserver", Path: bin, Args: args, StopTimeout: 15 * time.Second}
}
