//go:build integration

package controlplane

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apiextensions "k8s.io/apiextensions-apiserver/pkg/client/clientset/clientset"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
)

const helperEnv = "COZYLAB_CONTROLPLANE_HELPER"

// TestMain turns the test binary into a control-plane owner that a test can SIGKILL.
func TestMain(m *testing.M) {
	if root := os.Getenv(helperEnv); root != "" {
		cp, err := Start(context.Background(), Options{Etcd: os.Getenv("ETCD"), APIServer: os.Getenv("APISERVER"), Root: root})
		if err != nil {
			fmt.Println(`{"error":` + fmt.Sprintf("%q", err.Error()) + `}`)
			os.Exit(1)
		}
		out, _ := json.Marshal(map[string]any{"pids": cp.Pids(), "dir": cp.Dir})
		fmt.Println(string(out))
		select {} // until killed
	}
	os.Exit(m.Run())
}

func binaries(t testing.TB) Options {
	t.Helper()
	paths, err := (&bincache.Cache{}).Ensure(context.Background(), bincache.Etcd, bincache.KubeAPIServer)
	require.NoError(t, err, "the binaries cache must build etcd and kube-apiserver (go run mage.go bins)")
	return Options{Etcd: paths[bincache.Etcd], APIServer: paths[bincache.KubeAPIServer], Root: filepath.Join(t.TempDir(), "cp")}
}

func TestControlPlaneServesCustomResources(t *testing.T) {
	ctx := context.Background()
	opts := binaries(t)
	cp, err := Start(ctx, opts)
	require.NoError(t, err)
	t.Logf("control plane ready in %s (etcd + kube-apiserver, from process start to /readyz)", cp.StartupTime.Round(time.Millisecond))
	pids := cp.Pids()
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			assert.NoError(t, cp.Stop(ctx))
		}
	})

	fi, err := os.Stat(cp.Kubeconfig)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm(), "kubeconfig holds a credential")

	cfg := cp.RESTConfig()
	version, err := discovery.NewDiscoveryClientForConfigOrDie(cfg).ServerVersion()
	require.NoError(t, err)
	assert.Equal(t, bincache.KubernetesVersion, version.GitVersion)
	assert.Equal(t, "1", version.Major)
	assert.Equal(t, "35", version.Minor)

	crds := apiextensions.NewForConfigOrDie(cfg).ApiextensionsV1().CustomResourceDefinitions()
	_, err = crds.Create(ctx, widgetCRD(), metav1.CreateOptions{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		crd, err := crds.Get(ctx, "widgets.example.com", metav1.GetOptions{})
		if err != nil {
			return false
		}
		for _, c := range crd.Status.Conditions {
			if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
				return true
			}
		}
		return false
	}, 10*time.Second, 50*time.Millisecond, "CRD widgets.example.com Established")

	gvr := schema.GroupVersionResource{Group: "example.com", Version: "v1", Resource: "widgets"}
	widgets := dynamic.NewForConfigOrDie(cfg).Resource(gvr).Namespace("default")
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "example.com/v1", "kind": "Widget",
		"metadata": map[string]any{"name": "w1"},
		"spec":     map[string]any{"size": int64(3), "colour": "teal"},
	}}
	// The discovery cache of a fresh CRD can lag a moment behind Established.
	require.Eventually(t, func() bool {
		_, err = widgets.Create(ctx, obj, metav1.CreateOptions{})
		return err == nil
	}, 10*time.Second, 50*time.Millisecond)
	got, err := widgets.Get(ctx, "w1", metav1.GetOptions{})
	require.NoError(t, err)
	size, _, _ := unstructured.NestedInt64(got.Object, "spec", "size")
	colour, _, _ := unstructured.NestedString(got.Object, "spec", "colour")
	assert.Equal(t, int64(3), size)
	assert.Equal(t, "teal", colour)

	// Schema validation is the real apiserver's: a wrong type is refused.
	bad := obj.DeepCopy()
	bad.SetName("w2")
	require.NoError(t, unstructured.SetNestedField(bad.Object, "three", "spec", "size"))
	_, err = widgets.Create(ctx, bad, metav1.CreateOptions{})
	require.ErrorContains(t, err, "spec.size")

	require.NoError(t, cp.Stop(ctx))
	stopped = true
	for _, pid := range pids {
		assert.False(t, process.Alive(pid), "pid %d survived Stop", pid)
	}
	assert.NoDirExists(t, cp.Dir)
}

func widgetCRD() *apiextensionsv1.CustomResourceDefinition {
	return &apiextensionsv1.CustomResourceDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: "widgets.example.com"},
		Spec: apiextensionsv1.CustomResourceDefinitionSpec{
			Group: "example.com",
			Names: apiextensionsv1.CustomResourceDefinitionNames{Plural: "widgets", Singular: "widget", Kind: "Widget", ListKind: "WidgetList"},
			Scope: apiextensionsv1.NamespaceScoped,
			Versions: []apiextensionsv1.CustomResourceDefinitionVersion{{
				Name: "v1", Served: true, Storage: true,
				Schema: &apiextensionsv1.CustomResourceValidation{OpenAPIV3Schema: &apiextensionsv1.JSONSchemaProps{
					Type: "object",
					Properties: map[string]apiextensionsv1.JSONSchemaProps{
						"spec": {Type: "object", Properties: map[string]apiextensionsv1.JSONSchemaProps{
							"size":   {Type: "integer"},
							"colour": {Type: "string"},
						}},
					},
				}},
			}},
		},
	}
}

// TestKilledOwnerLeavesNoProcesses SIGKILLs a process that owns a running control plane: etcd
// and kube-apiserver must die with it, and the next Start must sweep its directory and work.
func TestKilledOwnerLeavesNoProcesses(t *testing.T) {
	opts := binaries(t)
	owner := exec.Command(os.Args[0], "-test.run=^$")
	owner.Env = append(os.Environ(), helperEnv+"="+opts.Root, "ETCD="+opts.Etcd, "APISERVER="+opts.APIServer)
	out, err := owner.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, owner.Start())
	t.Cleanup(func() { _ = owner.Process.Kill(); _ = owner.Wait() })
	line, err := bufio.NewReader(out).ReadString('\n')
	require.NoError(t, err)
	var started struct {
		Pids  []int  `json:"pids"`
		Dir   string `json:"dir"`
		Error string `json:"error"`
	}
	require.NoError(t, json.Unmarshal([]byte(line), &started), line)
	require.Empty(t, started.Error)
	require.Len(t, started.Pids, 2)
	for _, pid := range started.Pids {
		require.True(t, process.Alive(pid))
	}

	require.NoError(t, owner.Process.Signal(syscall.SIGKILL))
	_ = owner.Wait()
	require.Eventually(t, func() bool {
		return !process.Alive(started.Pids[0]) && !process.Alive(started.Pids[1])
	}, 10*time.Second, 20*time.Millisecond, "etcd and kube-apiserver must die with their SIGKILLed owner")
	assert.DirExists(t, started.Dir, "nothing ran to remove it")

	cp, err := Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cp.Stop(context.Background())) })
	assert.NoDirExists(t, started.Dir, "the next start sweeps the killed run's directory")
}

// TestPortTakenIsRetried makes the first attempt's apiserver port busy, as if another program
// took it between our pick and the bind: Start must notice and succeed on fresh ports.
func TestPortTakenIsRetried(t *testing.T) {
	opts := binaries(t)
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	calls := 0
	pickPorts = func(n int) ([]int, error) {
		calls++
		ps, err := freePorts(n)
		if calls == 1 && err == nil {
			ps[2] = busy.Addr().(*net.TCPAddr).Port
		}
		return ps, err
	}
	t.Cleanup(func() { pickPorts = freePorts })
	rec := &progress.Recorder{}
	opts.Progress = rec
	cp, err := Start(context.Background(), opts)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, cp.Stop(context.Background())) })
	assert.Equal(t, 2, calls)
	assert.True(t, containsAny(rec.Statuses("Starting control plane (etcd, kube-apiserver)"), "retrying on fresh ports"))
	entries, err := os.ReadDir(opts.Root)
	require.NoError(t, err)
	assert.Len(t, entries, 1, "the failed attempt's directory is removed")
}

func containsAny(lines []string, sub string) bool {
	for _, l := range lines {
		if strings.Contains(l, sub) {
			return true
		}
	}
	return false
}

// BenchmarkStart measures a cold start of etcd + kube-apiserver to /readyz, and the stop.
func BenchmarkStart(b *testing.B) {
	opts := binaries(b)
	var total time.Duration
	for b.Loop() {
		cp, err := Start(context.Background(), opts)
		require.NoError(b, err)
		total += cp.StartupTime
		require.NoError(b, cp.Stop(context.Background()))
	}
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready/op")
}
