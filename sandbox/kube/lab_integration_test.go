//go:build integration

package kube

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/cozylab/cozylab/internal/debian"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/lab/state"
)

// The tests share one local lab with a real node, named podio, under a fixed state root: a run
// killed before its lab:down (a test timeout) leaves a lab the next run takes down first.
const (
	labName = "podio"
	ns      = "default"
	// testImage is the pods' image: Debian's busybox-static and its applets, pushed to the lab
	// registry under this upstream name, so the lab's placement rule runs its pods on the real
	// node and containerd pulls it through its mirror.
	testImage = "ghcr.io/cozylab/podio-busybox:test"
)

var labRoot = filepath.Join(os.TempDir(), "cozylab-sandbox-kube-test")

var shared struct {
	once sync.Once
	p    *local.Provider
	cfg  *rest.Config
	cs   kubernetes.Interface
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if shared.p != nil {
		if err := downLab(shared.p); err != nil {
			fmt.Fprintf(os.Stderr, "lab %s: %v\n", labName, err)
			code = max(code, 1)
		}
	}
	os.Exit(code)
}

func newProvider() *local.Provider {
	return local.New(labRoot, state.Request{Name: labName, Provider: local.ProviderName, RepoRoot: "../..", LocalNodes: state.LocalNodesReal})
}

// testLab brings the shared lab up on first use, with the test image in its registry.
func testLab(tb testing.TB) (*rest.Config, kubernetes.Interface) {
	tb.Helper()
	shared.once.Do(func() { shared.err = upLab() })
	require.NoError(tb, shared.err, "bring up lab %s (a local lab with its real node: run as root; see go run mage.go lab:up)", labName)
	return shared.cfg, shared.cs
}

func upLab() error {
	ctx := context.Background()
	p := newProvider()
	if _, err := os.Stat(p.Dir()); err == nil { // a run killed before it took its lab down
		if err := downLab(p); err != nil {
			return fmt.Errorf("take down the lab a killed run left: %w", err)
		}
	}
	shared.p = p
	rep := progress.NewTerminal(os.Stderr)
	defer rep.Close()
	if err := p.Up(ctx, rep); err != nil {
		return err
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", p.Kubeconfig())
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 100, 200
	reg, err := p.Registry()
	if err != nil {
		return err
	}
	if err := pushTestImage(ctx, reg+"/"+testImage); err != nil {
		return err
	}
	shared.cfg, shared.cs = cfg, kubernetes.NewForConfigOrDie(cfg)
	return nil
}

// downLab takes the lab down and checks that nothing of it is left: no process naming its
// directory, no directory.
func downLab(p *local.Provider) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := p.Down(ctx, progress.Discard); err != nil {
		return fmt.Errorf("lab:down: %w", err)
	}
	left, err := process.FindMentioning(p.Dir())
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return fmt.Errorf("processes left after lab:down: %v", left)
	}
	if _, err := os.Stat(p.Dir()); !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%s left after lab:down (%v)", p.Dir(), err)
	}
	return os.RemoveAll(labRoot)
}

// applets are the busybox commands the tests' pods use, linked in /bin.
var applets = []string{"sh", "cat", "echo", "stty", "sleep", "httpd", "nc", "mkdir", "dd", "head", "kill", "true"}

// pushTestImage builds busybox-static's layer (apt names the .deb) plus a layer of applet
// links and a /tmp, and pushes the image to ref.
func pushTestImage(ctx context.Context, ref string) error {
	debs, err := debian.Resolve(ctx, "busybox-static")
	if err != nil {
		return err
	}
	cache, err := os.MkdirTemp("", "podio-debs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(cache)
	path, err := debian.Fetch(ctx, cache, debs[0])
	if err != nil {
		return err
	}
	data, err := debian.DataTar(path)
	if err != nil {
		return err
	}
	busybox, err := debian.Layer(data)
	if err != nil {
		return err
	}
	links, err := linksLayer()
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, busybox, links)
	if err != nil {
		return err
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64"
	cfg.Config.Env = []string{"PATH=/bin:/usr/bin"}
	if img, err = mutate.ConfigFile(img, cfg); err != nil {
		return err
	}
	tag, err := name.NewTag(ref, name.Insecure)
	if err != nil {
		return err
	}
	return remote.Write(tag, img, remote.WithContext(ctx))
}

func linksLayer() (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777}); err != nil {
		return nil, err
	}
	for _, a := range applets {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: "bin/" + a, Linkname: "busybox", Mode: 0o777}); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	raw := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(raw)), nil })
}

// Pod scripts.
const (
	// idleScript keeps a pod running for execs.
	idleScript = "exec sleep 86400"
	// serverScript serves /www/small ("hello\n") over HTTP on the pod's loopback port 8080,
	// and echoes on port 9000 (each connection its own cat).
	serverScript = "mkdir -p /www && echo hello > /www/small && " +
		"httpd -f -p 127.0.0.1:8080 -h /www & nc -ll -p 9000 -e cat & wait"
)

// startPod creates pod name running script on the real node and waits until it runs; the pod is
// deleted when the test ends, and gone before the next test (or benchmark run) may reuse the name.
func startPod(t testing.TB, cs kubernetes.Interface, name, script string) *corev1.Pod {
	t.Helper()
	ctx := t.Context()
	po := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.PodSpec{TerminationGracePeriodSeconds: ptr.To[int64](1), Containers: []corev1.Container{{
			Name: "main", Image: testImage, Command: []string{"/bin/busybox", "sh", "-c", script}}}}}
	_, err := cs.CoreV1().Pods(ns).Create(ctx, po, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx := context.Background()
		err := cs.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
		if !apierrors.IsNotFound(err) {
			require.NoError(t, err)
		}
		require.Eventually(t, func() bool {
			_, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}, 2*time.Minute, 50*time.Millisecond, "pod %s/%s gone", ns, name)
	})
	return waitRunning(t, cs, name)
}

// waitRunning waits until pod name runs on the real node.
func waitRunning(t testing.TB, cs kubernetes.Interface, name string) *corev1.Pod {
	t.Helper()
	var po *corev1.Pod
	require.Eventually(t, func() bool {
		var err error
		po, err = cs.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
		return err == nil && po.Status.Phase == corev1.PodRunning
	}, 3*time.Minute, 100*time.Millisecond, "pod %s/%s running", ns, name)
	require.Equal(t, realnode.NodeName, po.Spec.NodeName, "the pod runs on the real node: %s", po.Annotations)
	return po
}
