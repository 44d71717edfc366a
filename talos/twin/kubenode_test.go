package twin

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"github.com/cozylab/cozylab/talos/machineconfig"
)

// labConfig generates a control-plane config as the lab does, with patches.
func labConfig(t *testing.T, patches ...string) []byte {
	t.Helper()

	bundle, err := machineconfig.LoadOrCreateSecrets(filepath.Join(t.TempDir(), "secrets.yaml"))
	require.NoError(t, err)

	mac, err := net.ParseMAC("52:54:00:00:00:01")
	require.NoError(t, err)

	var raw [][]byte
	for _, p := range patches {
		raw = append(raw, []byte(p))
	}

	res, err := machineconfig.Generate(machineconfig.Options{
		ClusterName: "twin", VIP: netip.MustParseAddr("192.168.100.10"), Patches: raw,
		HTTPRegistries: []string{"192.168.100.1:5000"},
		Nodes:          []machineconfig.Node{{Name: "srv1", Address: netip.MustParsePrefix("192.168.100.11/24"), MAC: mac}},
	}, bundle)
	require.NoError(t, err)

	return res.Nodes[0].Config
}

func TestKubeFactsFromConfig(t *testing.T) {
	cfg, _, err := machineconfig.ValidateBytes(labConfig(t, `
machine:
  nodeLabels:
    zone: a
  nodeTaints:
    dedicated: infra:NoExecute
  kubelet:
    extraConfig:
      maxPods: 512
cluster:
  allowSchedulingOnControlPlanes: false
  network:
    podSubnets: [100.65.0.0/16]
    serviceSubnets: [10.96.0.0/16]
  controllerManager:
    extraArgs:
      bind-address: 0.0.0.0
  proxy:
    disabled: true
`))
	require.NoError(t, err)

	kf, err := kubeFactsFromConfig(cfg)
	require.NoError(t, err)
	assert.Equal(t, "100.65.0.0/16", kf.podCIDRs)
	assert.Equal(t, netip.MustParseAddr("10.96.0.10"), kf.clusterDNS, "the DNS service is the range's 10th address, as on Talos")
	assert.False(t, kf.proxy, "cluster.proxy.disabled: no kube-proxy")
	assert.Equal(t, 7445, kf.prismPort, "KubePrism is on by default")
	assert.Equal(t, int32(512), kf.maxPods)
	assert.Equal(t, "a", kf.labels["zone"])
	assert.Contains(t, kf.labels, controlPlaneTaint, "every control plane carries the role label")
	assert.ElementsMatch(t, []corev1.Taint{
		{Key: controlPlaneTaint, Effect: corev1.TaintEffectNoSchedule},
		{Key: "dedicated", Value: "infra", Effect: corev1.TaintEffectNoExecute},
	}, kf.taints)
	assert.Equal(t, []string{"http://192.168.100.1:5000"}, kf.mirrors["192.168.100.1:5000"], "the lab registry mirrors itself over plain HTTP")

	args := controllerManagerArgs(layout{dir: "/s"}, kf)
	assert.Contains(t, args, "--bind-address=0.0.0.0", "the config's extraArgs win over the defaults")
	assert.NotContains(t, args, "--bind-address=127.0.0.1")
	assert.Contains(t, args, "--allocate-node-cidrs=true")
	assert.Contains(t, args, "--cluster-cidr=100.65.0.0/16")
	assert.Empty(t, controllerManagerGroups(kf), "controllers act as their service accounts, as on Talos")
	kf.cmArgs["use-service-account-credentials"] = []string{"false"}
	assert.Equal(t, []string{"system:masters"}, controllerManagerGroups(kf), "without them, the manager acts for every controller")

	cfg, _, err = machineconfig.ValidateBytes(labConfig(t, "cluster:\n  allowSchedulingOnControlPlanes: true\n  proxy:\n    disabled: false\n"))
	require.NoError(t, err)
	kf, err = kubeFactsFromConfig(cfg)
	require.NoError(t, err)
	assert.Empty(t, kf.taints, "scheduling on control planes: no taint")
	assert.True(t, kf.proxy)
}

func TestParseTaint(t *testing.T) {
	taint, err := parseTaint("a", "NoSchedule")
	require.NoError(t, err)
	assert.Equal(t, corev1.Taint{Key: "a", Effect: corev1.TaintEffectNoSchedule}, taint)

	_, err = parseTaint("a", "b:Sometimes")
	assert.ErrorContains(t, err, "must be NoSchedule, PreferNoSchedule or NoExecute")
}

func TestRoutesTo(t *testing.T) {
	node := func(name, cidr, ip string) corev1.Node {
		n := corev1.Node{Spec: corev1.NodeSpec{PodCIDR: cidr}}
		n.Name = name
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}, {Type: corev1.NodeInternalIP, Address: ip}}

		return n
	}

	own, others := splitNodes([]corev1.Node{
		node("srv3", "100.65.2.0/24", "192.168.100.13"),
		node("srv1", "100.65.0.0/24", "192.168.100.11"),
		node("srv2", "", "192.168.100.12"), // no CIDR yet: no route
	}, "srv1")
	require.NotNil(t, own)
	cidr, ok := podCIDR(own)
	assert.True(t, ok)
	assert.Equal(t, "100.65.0.0/24", cidr.String())
	assert.Equal(t, []PodRoute{{Node: "srv3", Pods: netip.MustParsePrefix("100.65.2.0/24"), Via: netip.MustParseAddr("192.168.100.13")}}, routesTo(others))
	assert.Equal(t, "100.65.2.0/24 via 192.168.100.13 (srv3)", describeRoutes(routesTo(others)))
}

func TestSupervisedRestarts(t *testing.T) {
	dir := t.TempDir()
	log := filepath.Join(dir, "svc.log")

	s := supervise(context.Background(), "svc", "/bin/sh", []string{"-c", "echo ran; exit 3"}, log, func(string, ...any) {})

	// The process exits at once: it is started again after a pause and writes again.
	require.Eventually(t, func() bool {
		data, _ := os.ReadFile(log) //nolint:errcheck // polled

		return strings.Count(string(data), "ran") >= 2
	}, time.Minute, 50*time.Millisecond)

	svc := s.service(context.Background(), nil)
	assert.Equal(t, "svc", svc.ID)
	assert.Contains(t, svc.Message, "exit status 3")
	require.NoError(t, s.stop(context.Background()))

	s = supervise(context.Background(), "sleeper", "/bin/sleep", []string{"600"}, log, func(string, ...any) {})
	require.Eventually(t, func() bool { return s.service(context.Background(), nil).State == "Running" }, time.Minute, 20*time.Millisecond)
	assert.Equal(t, "Running", s.service(context.Background(), func(context.Context) error { return nil }).State)
	assert.True(t, s.service(context.Background(), func(context.Context) error { return nil }).Healthy)
	assert.Regexp(t, `Health check successful \(cpu [0-9.]+m?s\)`, s.service(context.Background(), func(context.Context) error { return nil }).Message,
		"the message says how much CPU the service used")
	require.NoError(t, s.stop(context.Background()), "stop ends the process and the supervision")

	s = supervise(context.Background(), "missing", "/nonexistent/bin", nil, log, func(string, ...any) {})
	require.Eventually(t, func() bool { return s.service(context.Background(), nil).State == "Waiting" }, time.Minute, 20*time.Millisecond)
	assert.Contains(t, s.service(context.Background(), nil).Message, "cannot start")
	require.NoError(t, s.stop(context.Background()))
}

// The API server runs with the config's aggregator CA as its front proxy, as on Talos: the
// requestheader flags, and a front-proxy-client certificate issued from that CA.
func TestAPIServerFrontProxy(t *testing.T) {
	cfg, _, err := machineconfig.ValidateBytes(labConfig(t))
	require.NoError(t, err)

	f, err := factsFromConfig(cfg)
	require.NoError(t, err)
	require.True(t, f.aggregator, "a generated control-plane config carries the aggregator CA")

	l := layout{dir: t.TempDir()}
	args := apiServerArgs(l, net.ParseIP("192.168.100.11"), f)
	assert.Contains(t, args, "--requestheader-client-ca-file="+filepath.Join(l.pki(), "aggregator-ca.crt"))
	assert.Contains(t, args, "--requestheader-allowed-names=front-proxy-client")
	assert.Contains(t, args, "--proxy-client-cert-file="+filepath.Join(l.pki(), "front-proxy-client.crt"))

	require.NoError(t, writeFrontProxyPKI(cfg, l))
	ca, err := os.ReadFile(filepath.Join(l.pki(), "aggregator-ca.crt"))
	require.NoError(t, err)
	assert.Equal(t, cfg.Cluster().AggregatorCA().Crt, ca)
	pair, err := tls.LoadX509KeyPair(filepath.Join(l.pki(), "front-proxy-client.crt"), filepath.Join(l.pki(), "front-proxy-client.key"))
	require.NoError(t, err)
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	assert.Equal(t, "front-proxy-client", leaf.Subject.CommonName)
	roots := x509.NewCertPool()
	require.True(t, roots.AppendCertsFromPEM(ca))
	_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	assert.NoError(t, err, "the front-proxy-client certificate is the aggregator CA's")

	f.aggregator = false
	assert.NotContains(t, strings.Join(apiServerArgs(l, net.ParseIP("192.168.100.11"), f), " "), "requestheader", "no aggregator CA: no front proxy")
}
