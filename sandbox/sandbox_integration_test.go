//go:build integration

package sandbox

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/cozylab/cozylab/lab/login"
	"github.com/cozylab/cozylab/lab/provider/providertest"
	"github.com/cozylab/cozylab/lab/proxy"
)

// testClass is the parent lab's storage class for the sandbox's volume: static volumes the test
// makes (the parent lab has no provisioner).
const testClass = "sandbox-test"

// TestMain runs the tests, or — with COZYLAB_LOGIN_HELPER set, as the login test starts this
// binary inside its shell — is that shell's client: it lists the nodes of the cluster
// $KUBECONFIG names (through the proxy login set up) and exits.
func TestMain(m *testing.M) {
	if providertest.IsLoginClient() {
		os.Exit(providertest.ListNodes())
	}
	os.Exit(m.Run())
}

// TestSandbox runs a sandbox in a parent cluster that is a local lab with a real node: apply
// (the in-pod lab comes up), exec, the proxy and login through the port-forward, the e2e in the
// pod, the pod deleted and applied again (the same lab), and delete (nothing with the sandbox's
// labels left). Bad input fails within seconds, before anything is made.
func TestSandbox(t *testing.T) {
	ctx := context.Background()
	parent, cfg, cs, reg := parentLab(t, "sbparent")
	opts := testOptions(parent, reg, "inner")

	t.Run("bad input fails within seconds and makes nothing", func(t *testing.T) {
		_, err := Open(Options{Kubeconfig: "/nonexistent/kubeconfig"})
		require.ErrorContains(t, err, "SANDBOX_KUBECONFIG=/nonexistent/kubeconfig")
		o := opts
		o.Registry = ""
		sb, err := Open(o)
		require.NoError(t, err)
		require.ErrorContains(t, sb.Apply(ctx), "SANDBOX_REGISTRY is not set")
		o = opts
		o.StorageClass = "no-such-class"
		sb, err = Open(o)
		require.NoError(t, err)
		require.ErrorContains(t, sb.Apply(ctx), "SANDBOX_STORAGE_CLASS=no-such-class: the parent cluster has no such StorageClass")
		o.StorageClass = ""
		sb, err = Open(o)
		require.NoError(t, err)
		require.ErrorContains(t, sb.Apply(ctx), "the parent cluster has no default StorageClass for the lab's volume: set SANDBOX_STORAGE_CLASS")
		o = opts
		o.CPU = "two"
		_, err = Open(o)
		require.ErrorContains(t, err, `SANDBOX_CPU="two" is not a quantity`)

		// A namespace whose Pod Security refuses privileged pods.
		_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "sandbox-restricted",
			Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{})
		require.NoError(t, err)
		o = opts
		o.Namespace = "sandbox-restricted"
		sb, err = Open(o)
		require.NoError(t, err)
		require.ErrorContains(t, sb.Apply(ctx), `namespace sandbox-restricted enforces Pod Security "restricted", which refuses the sandbox's privileged pod`)
		require.NoError(t, cs.CoreV1().Namespaces().Delete(ctx, "sandbox-restricted", metav1.DeleteOptions{}))

		// A user without the rights: a service account bound to nothing.
		_, err = cs.CoreV1().ServiceAccounts("default").Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "nobody"}}, metav1.CreateOptions{})
		require.NoError(t, err)
		tok, err := cs.CoreV1().ServiceAccounts("default").CreateToken(ctx, "nobody", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
		require.NoError(t, err)
		kc := clientcmdapi.NewConfig()
		kc.Clusters["parent"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthority: cfg.CAFile, CertificateAuthorityData: cfg.CAData}
		kc.AuthInfos["nobody"] = &clientcmdapi.AuthInfo{Token: tok.Status.Token}
		kc.Contexts["nobody"] = &clientcmdapi.Context{Cluster: "parent", AuthInfo: "nobody"}
		kc.CurrentContext = "nobody"
		path := filepath.Join(t.TempDir(), "nobody.kubeconfig")
		require.NoError(t, clientcmd.WriteToFile(*kc, path))
		o = opts
		o.Kubeconfig = path
		sb, err = Open(o)
		require.NoError(t, err)
		require.ErrorContains(t, sb.Apply(ctx), "the parent cluster does not let us create pods, delete pods, create persistentvolumeclaims, create pods/exec, create pods/portforward in namespace cozylab-sandbox")
		assertNothingLabelled(t, cs)
	})

	staticVolume(t, cs)

	sb, err := Open(opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, sb.Delete(context.WithoutCancel(ctx))) })
	start := time.Now()
	require.NoError(t, sb.Apply(ctx))
	t.Logf("FIGURE sandbox:apply (cold pod, image built and pushed, in-pod lab up): %s", time.Since(start).Round(time.Second))
	st, err := sb.Status(ctx)
	require.NoError(t, err)
	assert.Equal(t, "ready", st.Phase)
	assert.Contains(t, st.Image, reg+"/cozylab/cozylab-sandbox:")
	first := sb.tail(ctx, 500, false)
	first, _, _ = strings.Cut(first[strings.Index(first, "Sandbox pod:"):], "\n")
	t.Logf("the pod's first line: %s", first)
	assert.Contains(t, first, "Sandbox pod: lab inner on the local provider", "the pod's first line says what runs inside")
	assert.Contains(t, first, "; with a real node (containerd's root is on the lab's volume)")

	t.Run("a volume that can never bind fails the apply, naming it", func(t *testing.T) {
		o := opts
		o.Lab = "novolume"
		sb, err := Open(o)
		require.NoError(t, err)
		defer func() { require.NoError(t, sb.Delete(ctx)) }()
		err = sb.Apply(ctx)
		require.ErrorContains(t, err, "the lab's volume cozylab-sandbox/cozylab-novolume cannot bind: StorageClass sandbox-test provisions nothing")
	})

	t.Run("a pod that cannot be scheduled fails the apply, naming the setting", func(t *testing.T) {
		addVolume(t, cs, "sandbox-test-huge")
		o := opts
		o.Lab, o.Memory = "huge", "100Ti"
		sb, err := Open(o)
		require.NoError(t, err)
		defer func() { require.NoError(t, sb.Delete(ctx)) }()
		err = sb.Apply(ctx)
		require.ErrorContains(t, err, "pod cozylab-sandbox/cozylab-huge cannot be scheduled: ")
		require.ErrorContains(t, err, "Insufficient memory")
		require.ErrorContains(t, err, "SANDBOX_MEMORY (100Ti)")
	})

	t.Run("exec returns the command's output and exit code", func(t *testing.T) {
		var out, errOut bytes.Buffer
		code, err := sb.Run(ctx, []string{"/bin/sh", "-c", "cat; echo out; echo err >&2; exit 3"}, strings.NewReader("in\n"), &out, &errOut)
		require.NoError(t, err)
		assert.Equal(t, 3, code)
		assert.Equal(t, "in\nout\n", out.String())
		assert.Equal(t, "err\n", errOut.String())
	})

	t.Run("sandbox:test runs the e2e in the pod and copies its reports back", func(t *testing.T) {
		dir := t.TempDir()
		start := time.Now()
		code, err := sb.Test(ctx, nil, os.Stderr, os.Stderr, dir)
		require.NoError(t, err)
		require.Equal(t, 0, code, "the e2e in the pod passed")
		t.Logf("FIGURE sandbox:test: %s", time.Since(start).Round(time.Second))
		junit, err := os.ReadFile(filepath.Join(sb.ReportDir(dir), "e2e", "junit.xml"))
		require.NoError(t, err, "the JUnit report is copied back")
		assert.Contains(t, string(junit), "<testsuite")
		assert.NotContains(t, string(junit), "<failure")
	})

	// The proxy into the in-pod lab, as sandbox:proxy serves it.
	dial, closer := sb.Dialer()
	defer closer.Close()
	px := providertest.ServeProxy(t, dial)
	clients := px.Clients
	uid := clusterUID(t, sb, dial)
	inner := innerClient(t, sb, dial)
	svc, err := inner.CoreV1().Services("cozy-e2e-echo").Get(ctx, "echo", metav1.GetOptions{})
	require.NoError(t, err, "the e2e in the pod installed the echo app")
	port := svc.Spec.Ports[0].Port
	page := fmt.Sprintf("http://echo.cozy-e2e-echo.svc:%d/", port)

	t.Run("the proxy reaches a Service of the in-pod lab by name and by address", func(t *testing.T) {
		for how, hc := range clients {
			for _, host := range []string{"echo.cozy-e2e-echo.svc", "echo.cozy-e2e-echo.svc.cluster.local", svc.Spec.ClusterIP} {
				resp, err := hc.Get(fmt.Sprintf("http://%s:%d/", host, port))
				require.NoError(t, err, "%s to %s", how, host)
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				assert.True(t, strings.HasPrefix(string(body), "echo from "), "%s to %s: %q", how, host, body)
			}
		}
		// HTTP CONNECT, as a client of an https:// address would ask.
		c, err := net.Dial("tcp", px.Addr)
		require.NoError(t, err)
		defer c.Close()
		target := fmt.Sprintf("echo.cozy-e2e-echo.svc:%d", port)
		fmt.Fprintf(c, "CONNECT %s HTTP/1.1\r\nHost: %s\r\n\r\n", target, target)
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "CONNECT %s", target)
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n\r\n", target)
		resp, err = http.ReadResponse(br, nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.True(t, strings.HasPrefix(string(body), "echo from "), "the echo page through the CONNECT tunnel: %q", body)

		// A refused target is a SOCKS error on its own connection, while a transfer streams.
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				resp, err := clients["SOCKS5h"].Get(page)
				if assert.NoError(t, err) {
					_, err = io.Copy(io.Discard, resp.Body)
					assert.NoError(t, err)
					resp.Body.Close()
				}
			}
		}()
		_, err = px.SOCKS.DialContext(ctx, "tcp", "node1:1")
		require.Error(t, err, "nothing listens on port 1 of the in-pod lab's real node")
		wg.Wait()
		// 100 connections at once.
		errs := make(chan error, 100)
		for range 100 {
			go func() {
				resp, err := clients["SOCKS5h"].Get(page)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				errs <- err
			}()
		}
		for range 100 {
			assert.NoError(t, <-errs)
		}
	})

	t.Run("a browser loads a page of the in-pod lab through the proxy", func(t *testing.T) {
		chromium, err := exec.LookPath("chromium")
		require.NoError(t, err, "install Chromium with: apt-get install chromium")
		bctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(bctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
			"--user-data-dir="+t.TempDir(), "--proxy-server=socks5://"+px.Addr, "--dump-dom", page)
		out, err := cmd.Output()
		require.NoError(t, err)
		assert.Contains(t, string(out), "echo from ", "Chromium rendered the echo page, by its Service's name")
	})

	t.Run("login lists the in-pod lab's nodes through the proxy", func(t *testing.T) {
		kc, err := sb.Kubeconfig(ctx)
		require.NoError(t, err)
		path := filepath.Join(t.TempDir(), "kubeconfig")
		require.NoError(t, os.WriteFile(path, kc, 0o600))
		var out bytes.Buffer
		start := time.Now()
		defer func() { t.Logf("login ran in %s: %s", time.Since(start).Round(time.Millisecond), out.String()) }()
		code, err := login.Run(ctx, login.Options{Lab: "sandbox/inner", Kubeconfig: path, Dial: dial,
			Command: providertest.LoginClientEnv + "=1 " + os.Args[0], Stdout: &out, Stderr: &out})
		require.NoError(t, err)
		require.Equal(t, 0, code, out.String())
		assert.Contains(t, out.String(), "nodes: node1 srv1 srv2 srv3", "the in-pod lab's real and simulated nodes, listed through the proxy")
	})

	t.Run("a deleted pod comes back to the same lab, and the proxy follows it", func(t *testing.T) {
		require.NoError(t, cs.CoreV1().Pods(sb.Namespace()).Delete(ctx, sb.Name(), metav1.DeleteOptions{}))
		require.Eventually(t, func() bool {
			_, err := cs.CoreV1().Pods(sb.Namespace()).Get(ctx, sb.Name(), metav1.GetOptions{})
			return err != nil
		}, 3*time.Minute, 200*time.Millisecond)
		start := time.Now()
		require.NoError(t, sb.Apply(ctx))
		t.Logf("FIGURE sandbox:apply (pod back on the same volume): %s", time.Since(start).Round(time.Second))
		assert.Equal(t, uid, clusterUID(t, sb, dial), "the same in-pod cluster (kube-system's UID) after the pod came back")
		// The echo pod comes back on the in-pod real node: retried until it answers (bounded).
		var last error
		require.Eventually(t, func() bool {
			resp, err := clients["SOCKS5h"].Get(page)
			if last = err; err != nil {
				return false
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			return strings.HasPrefix(string(body), "echo from ")
		}, 5*time.Minute, time.Second, "the proxy that served the old pod serves the new one's echo page: %v", last)
	})

	t.Run("delete leaves nothing with the sandbox's labels", func(t *testing.T) {
		require.NoError(t, sb.Delete(ctx))
		assertNothingLabelled(t, cs)
		_, err := cs.CoreV1().Namespaces().Get(ctx, DefaultNamespace, metav1.GetOptions{})
		assert.True(t, err != nil, "the namespace the sandbox made is gone")
		st, err := sb.Status(ctx)
		require.NoError(t, err)
		assert.Equal(t, "absent", st.Phase)
	})
}

// labPage is the in-pod lab's page URL, as `cozylab lab status` in the pod shows it.
func labPage(t testing.TB, sb *Sandbox) string {
	t.Helper()
	out, err := sb.output(context.Background(), "/opt/cozylab/bin/cozylab", "lab", "status")
	require.NoError(t, err)
	m := regexp.MustCompile(`lab page\s.*?(http://\S+)`).FindStringSubmatch(string(out))
	require.NotNil(t, m, "lab status names the lab page: %s", out)
	return m[1]
}

// innerClient is a client of the in-pod lab reaching it through dial (the proxy's way in).
func innerClient(t *testing.T, sb *Sandbox, dial proxy.DialFunc) kubernetes.Interface {
	t.Helper()
	kc, err := sb.Kubeconfig(t.Context())
	require.NoError(t, err)
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	require.NoError(t, err)
	cfg.Dial = dial
	return kubernetes.NewForConfigOrDie(cfg)
}

// clusterUID reads the in-pod cluster's kube-system UID through dial.
func clusterUID(t *testing.T, sb *Sandbox, dial proxy.DialFunc) string {
	t.Helper()
	ns, err := innerClient(t, sb, dial).CoreV1().Namespaces().Get(t.Context(), "kube-system", metav1.GetOptions{})
	require.NoError(t, err)
	return string(ns.UID)
}

// assertNothingLabelled checks the parent cluster holds no pod, claim or namespace of a sandbox.
func assertNothingLabelled(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx := t.Context()
	sel := metav1.ListOptions{LabelSelector: LabelManagedBy + "=" + ManagedBy}
	pods, err := cs.CoreV1().Pods("").List(ctx, sel)
	require.NoError(t, err)
	assert.Empty(t, pods.Items)
	pvcs, err := cs.CoreV1().PersistentVolumeClaims("").List(ctx, sel)
	require.NoError(t, err)
	assert.Empty(t, pvcs.Items)
	nss, err := cs.CoreV1().Namespaces().List(ctx, sel)
	require.NoError(t, err)
	assert.Empty(t, nss.Items)
}
