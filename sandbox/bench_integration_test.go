//go:build integration

package sandbox

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/local"
	"github.com/cozylab/cozylab/lab/provider/providertest"
	"github.com/cozylab/cozylab/lab/realnode"
	"github.com/cozylab/cozylab/lab/state"
)

// parentLab brings up the parent cluster of a test: a local lab with a real node (named name),
// taken down when the test ends; and a storage class without a provisioner with one static
// volume for the sandbox.
func parentLab(tb testing.TB, name string) (*local.Provider, *rest.Config, kubernetes.Interface, string) {
	tb.Helper()
	ctx := context.Background()
	repo, err := filepath.Abs("..")
	if err != nil {
		tb.Fatal(err)
	}
	root := tb.TempDir()
	parent := local.New(root, state.Request{Name: name, Provider: local.ProviderName, RepoRoot: repo})
	host, err := realnode.Snapshot(root, name)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := parent.Down(context.WithoutCancel(ctx), progress.Discard); err != nil {
			tb.Error(err)
		}
		// The in-pod lab's real node lived in the pod's namespaces and cgroup: nothing of it, or
		// of the parent, outlives the parent.
		after, err := realnode.Snapshot(root, name)
		if err != nil {
			tb.Fatal(err)
		}
		if b, a, _ := realnode.Comparable(host, after); !reflect.DeepEqual(b, a) {
			tb.Errorf("after the parent's lab:down the host is not as before:\nbefore %+v\nafter  %+v", b, a)
		}
	})
	start := time.Now()
	if err := parent.Up(ctx, progress.NewTerminal(os.Stderr)); err != nil {
		tb.Fatal(err)
	}
	tb.Logf("parent lab up in %s", time.Since(start).Round(time.Second))
	reg, err := parent.Registry()
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", parent.Kubeconfig())
	if err != nil {
		tb.Fatal(err)
	}
	return parent, cfg, kubernetes.NewForConfigOrDie(cfg), reg
}

// staticVolume makes the storage class testClass (no provisioner) and one volume of it on
// this machine, for the sandbox's claim.
func staticVolume(tb testing.TB, cs kubernetes.Interface) {
	tb.Helper()
	ctx := context.Background()
	if _, err := cs.StorageV1().StorageClasses().Create(ctx, &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: testClass},
		Provisioner: noProvisioner, VolumeBindingMode: ptr.To(storagev1.VolumeBindingImmediate)}, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
	addVolume(tb, cs, "sandbox-test")
}

// addVolume makes one more volume of testClass, on this machine.
func addVolume(tb testing.TB, cs kubernetes.Interface, name string) {
	tb.Helper()
	if _, err := cs.CoreV1().PersistentVolumes().Create(context.Background(), &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeSpec{StorageClassName: testClass, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity:                      corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("20Gi")},
			PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
			PersistentVolumeSource:        corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: tb.TempDir()}}}}, metav1.CreateOptions{}); err != nil {
		tb.Fatal(err)
	}
}

// testOptions are a sandbox's options in a parent lab.
func testOptions(parent *local.Provider, reg, lab string) Options {
	return Options{Kubeconfig: parent.Kubeconfig(), Lab: lab, Registry: reg + "/cozylab", StorageClass: testClass,
		CPU: "500m", Memory: "1Gi", RepoRoot: parent.Request.RepoRoot, Progress: progress.NewTerminal(os.Stderr)}
}

// BenchmarkSandbox prints the sandbox's figures (go run mage.go bench:sandbox): the time of a
// cold sandbox:apply into a fresh parent lab (image built and pushed, pod started, in-pod lab
// up), and through sandbox:proxy — one port-forward connection to the pod — the cost of one
// connection (dial to the target's first bytes, ms/conn) and the throughput of one connection
// (MB/s), against servers in the pod.
func BenchmarkSandbox(b *testing.B) {
	ctx := context.Background()
	parent, _, cs, reg := parentLab(b, "sbbench")
	staticVolume(b, cs)
	sb, err := Open(testOptions(parent, reg, "bench"))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		if err := sb.Delete(context.WithoutCancel(ctx)); err != nil {
			b.Error(err)
		}
	})
	start := time.Now()
	if err := sb.Apply(ctx); err != nil {
		b.Fatal(err)
	}
	apply := time.Since(start)
	// In the pod: "ok" on port 9001 for every connection, 64 MiB of zeros on port 9002.
	const size = 64 << 20
	script := fmt.Sprintf(`printf '#!/bin/sh\necho ok\n' > /tmp/ok; printf '#!/bin/sh\nexec head -c %d /dev/zero\n' > /tmp/zeros; chmod +x /tmp/ok /tmp/zeros
setsid nc -ll -p 9001 -e /tmp/ok </dev/null >/dev/null 2>&1 &
setsid nc -ll -p 9002 -e /tmp/zeros </dev/null >/dev/null 2>&1 &`, size)
	if _, err := sb.output(ctx, "/bin/sh", "-c", script); err != nil {
		b.Fatal(err)
	}
	dial, closer := sb.Dialer()
	defer closer.Close()
	px := providertest.ServeProxy(b, dial)
	// The servers listen in the pod's network namespace; the in-pod lab's dialer reaches it at
	// the host address of its real node's link, where the lab page is.
	u, err := url.Parse(labPage(b, sb))
	if err != nil {
		b.Fatal(err)
	}
	host := u.Hostname()
	connect := func(port int) (io.ReadCloser, error) {
		c, err := px.SOCKS.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
		if err != nil {
			return nil, err
		}
		return c.(io.ReadCloser), nil
	}
	// The servers start in the background: wait (bounded) until the first answers.
	deadline := time.Now().Add(time.Minute)
	for {
		c, err := connect(9001)
		if err == nil {
			buf := make([]byte, 2)
			_, err = io.ReadFull(c, buf)
			c.Close()
			if err == nil && string(buf) == "ok" {
				break
			}
		}
		if time.Now().After(deadline) {
			listening, _ := sb.output(ctx, "/bin/netstat", "-ltn")
			b.Fatalf("the servers in the pod do not answer: %v; listening in the pod:\n%s", err, listening)
		}
		time.Sleep(100 * time.Millisecond)
	}

	b.Run("apply", func(b *testing.B) {
		for b.Loop() {
		}
		b.ReportMetric(apply.Seconds(), "s-apply")
	})
	b.Run("connect", func(b *testing.B) {
		buf := make([]byte, 2)
		for b.Loop() {
			c, err := connect(9001)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ok" {
				b.Fatalf("read %q: %v", buf, err)
			}
			c.Close()
		}
		b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/conn")
	})
	b.Run("throughput", func(b *testing.B) {
		b.SetBytes(size)
		for b.Loop() {
			c, err := connect(9002)
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, c)
			c.Close()
			if err != nil || n != size {
				b.Fatalf("read %d of %d bytes: %v", n, size, err)
			}
		}
	})
}
