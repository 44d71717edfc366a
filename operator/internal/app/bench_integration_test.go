//go:build integration

package app

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/crds"
	fluxcrds "github.com/cozylab/cozylab/operator/flux/crds"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

// chainLength is the depth of each dependency chain of Packages, as in the upstream measurement.
const chainLength = 10

// BenchmarkOperatorScale creates N PackageSources and Packages (3 installable components in 2
// namespaces each, chained 10 deep) before the operator starts, then runs the real operator
// binary and measures the time until every HelmRelease exists and every Package is Ready, and
// the operator's peak RSS. `go run mage.go bench:operator` runs it for N = 100, 500, 1000.
func BenchmarkOperatorScale(b *testing.B) {
	bin := buildOperator(b)
	sizes := []int{100, 500, 1000}
	if s := os.Getenv("COZYLAB_BENCH_SIZES"); s != "" {
		sizes = nil
		for _, f := range strings.Split(s, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			require.NoError(b, err, "COZYLAB_BENCH_SIZES=%q", s)
			sizes = append(sizes, n)
		}
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			for range b.N {
				ready, rss := runScale(b, bin, n)
				b.ReportMetric(ready.Seconds(), "s-to-ready")
				b.ReportMetric(float64(rss)/1024, "MiB-peak-rss")
			}
		})
	}
}

func buildOperator(b *testing.B) string {
	b.Helper()
	out := filepath.Join(b.TempDir(), "cozystack-operator")
	cmd := exec.Command("go", "build", "-o", out, "github.com/cozylab/cozylab/operator/cmd/cozystack-operator")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	msg, err := cmd.CombinedOutput()
	require.NoError(b, err, "build the operator: %s", msg)
	return out
}

func runScale(b *testing.B, bin string, n int) (time.Duration, int64) {
	b.Helper()
	ctx := context.Background()
	cp := cptest.Start(b)
	rc := cp.RESTConfig()
	rc.QPS, rc.Burst = 1000, 2000
	c, err := client.NewWithWatch(rc, client.Options{Scheme: scheme.Must()})
	require.NoError(b, err)
	require.NoError(b, install.CRDs(ctx, c, crds.FS, crds.Operator, time.Minute))
	require.NoError(b, install.CRDs(ctx, c, fluxcrds.FS, nil, time.Minute))
	require.NoError(b, c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "cozy-system"}}))
	createWorkload(b, c, n)

	done := watchReady(b, rc, n)
	start := time.Now()
	op := exec.Command(bin, "--kubeconfig="+cp.Kubeconfig, "--install-crds", "--metrics-bind-address=0", "--health-probe-bind-address=0", "--zap-log-level=error")
	op.Stdout, op.Stderr = os.Stderr, os.Stderr
	require.NoError(b, op.Start())
	defer func() { _ = op.Process.Kill(); _ = op.Wait() }()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("N=%d: not every HelmRelease and Package was ready after 10 minutes", n)
	}
	elapsed := time.Since(start)
	return elapsed, peakRSS(b, op.Process.Pid)
}

func createWorkload(b *testing.B, c client.Client, n int) {
	b.Helper()
	ctx := context.Background()
	for i := range n {
		name := fmt.Sprintf("cozystack.bench-%04d", i)
		chain := i / chainLength
		nsA, nsB := fmt.Sprintf("bench-%03d-a", chain), fmt.Sprintf("bench-%03d-b", chain)
		variant := v1alpha1.Variant{Name: "default", Components: []v1alpha1.Component{
			{Name: "crds", Path: "system/x-crds", Install: &v1alpha1.ComponentInstall{Namespace: nsA, ReleaseName: fmt.Sprintf("crds-%04d", i)}},
			{Name: "operator", Path: "system/x-operator", Install: &v1alpha1.ComponentInstall{Namespace: nsA, ReleaseName: fmt.Sprintf("operator-%04d", i), Privileged: true, DependsOn: []string{"crds"}}},
			{Name: "app", Path: "apps/x", Install: &v1alpha1.ComponentInstall{Namespace: nsB, ReleaseName: fmt.Sprintf("app-%04d", i), DependsOn: []string{"operator"}}},
		}}
		if i%chainLength != 0 {
			variant.DependsOn = []string{fmt.Sprintf("cozystack.bench-%04d", i-1)}
		}
		require.NoError(b, c.Create(ctx, &v1alpha1.PackageSource{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.PackageSourceSpec{
			SourceRef: &v1alpha1.PackageSourceRef{Kind: "OCIRepository", Name: "cozystack-packages", Namespace: "cozy-system"},
			Variants:  []v1alpha1.Variant{variant},
		}}))
		require.NoError(b, c.Create(ctx, &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: name}}))
	}
}

// watchReady closes the returned channel once 3n HelmReleases exist and n Packages are Ready,
// judged from informers (no polling of the API server).
func watchReady(b *testing.B, rc *rest.Config, n int) <-chan struct{} {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	ca, err := cache.New(rc, cache.Options{Scheme: scheme.Must()})
	require.NoError(b, err)
	done := make(chan struct{})
	check := func() {
		var hrs helmv2.HelmReleaseList
		var pkgs v1alpha1.PackageList
		if ca.List(ctx, &hrs) != nil || ca.List(ctx, &pkgs) != nil || len(hrs.Items) < 3*n {
			return
		}
		ready := 0
		for i := range pkgs.Items {
			if apimeta.IsStatusConditionTrue(pkgs.Items[i].Status.Conditions, v1alpha1.ConditionReady) {
				ready++
			}
		}
		if ready == n {
			select {
			case <-done:
			default:
				close(done)
			}
		}
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { check() }, UpdateFunc: func(any, any) { check() },
	}
	for _, obj := range []client.Object{&helmv2.HelmRelease{}, &v1alpha1.Package{}} {
		inf, err := ca.GetInformer(ctx, obj)
		require.NoError(b, err)
		_, err = inf.AddEventHandler(handler)
		require.NoError(b, err)
	}
	go func() { _ = ca.Start(ctx) }()
	require.True(b, ca.WaitForCacheSync(ctx))
	return done
}

// peakRSS is the process's high-water resident set size in KiB (VmHWM).
func peakRSS(b *testing.B, pid int) int64 {
	b.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(b, err)
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.Fields(rest)[0], 10, 64)
			require.NoError(b, err)
			return kb
		}
	}
	b.Fatalf("no VmHWM in /proc/%d/status", pid)
	return 0
}
