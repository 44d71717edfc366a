// Package cptest gives tests a real control plane (etcd + kube-apiserver from the binaries
// cache) in one call. It is the test harness the whole repository shares — the operator's tests
// use it too, the one import of lab/ that operator/ may have, and only from _test.go files.
package cptest

import (
	"context"
	"os"
	"testing"

	"k8s.io/client-go/rest"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/controlplane"
)

// Start starts a control plane (etcd, kube-apiserver) for t and stops it when t ends.
// Binaries missing from the cache are built first (minutes, once); `go run mage.go bins`
// builds them ahead.
func Start(t testing.TB) *controlplane.ControlPlane {
	t.Helper()
	return start(t, false)
}

// StartWithControllers is Start plus kube-controller-manager: garbage collection of owned
// objects, namespace deletion, service-account tokens.
func StartWithControllers(t testing.TB) *controlplane.ControlPlane {
	t.Helper()
	return start(t, true)
}

func start(t testing.TB, kcm bool) *controlplane.ControlPlane {
	t.Helper()
	ctx := context.Background()
	names := []string{bincache.Etcd, bincache.KubeAPIServer}
	if kcm {
		names = append(names, bincache.KubeControllerManager)
	}
	paths, err := (&bincache.Cache{}).Ensure(ctx, names...)
	if err != nil {
		t.Fatalf("get %v from the binaries cache (go run mage.go bins): %v", names, err)
	}
	cp, err := controlplane.Start(ctx, controlplane.Options{
		Etcd: paths[bincache.Etcd], APIServer: paths[bincache.KubeAPIServer], ControllerManager: paths[bincache.KubeControllerManager],
	})
	if err != nil {
		t.Fatalf("start control plane: %v", err)
	}
	t.Logf("control plane ready in %s at %s", cp.StartupTime.Round(1e6), cp.URL)
	t.Cleanup(func() {
		if os.Getenv("COZYLAB_KEEP_CP") != "" {
			t.Logf("keeping %s", cp.Dir)
			return
		}
		if err := cp.Stop(context.Background()); err != nil {
			t.Errorf("stop control plane: %v", err)
		}
	})
	return cp
}

// Config starts a control plane for t and returns its admin client configuration.
func Config(t testing.TB) *rest.Config {
	t.Helper()
	return Start(t).RESTConfig()
}
