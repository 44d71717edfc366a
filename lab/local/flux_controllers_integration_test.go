//go:build integration

package local_test

import (
	"context"
	"fmt"
	"github.com/cozylab/cozylab/internal/kubewatch"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/bincache"
	"github.com/cozylab/cozylab/internal/command"
	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/lab/local"
)

// fluxCRDs is the operator's Flux CRD set, read from disk: lab/ may not import operator/.
const fluxCRDs = "../../operator/flux/crds"

// TestFluxControllersHelp checks that both cached Flux binaries start and know the flags the lab
// runs them with.
func TestFluxControllersHelp(t *testing.T) {
	paths := ensureFlux(t)
	for name, flags := range map[string][]string{
		bincache.SourceController: {"--storage-path", "--storage-adv-addr", "--health-addr", "--enable-leader-election"},
		bincache.HelmController:   {"--feature-gates", "--health-addr", "--enable-leader-election"},
	} {
		t.Run(name, func(t *testing.T) {
			// pflag prints the usage and exits 0 on --help.
			out, err := command.Run(exec.CommandContext(t.Context(), paths[name], "--help"))
			require.NoError(t, err)
			for _, f := range flags {
				assert.Contains(t, string(out), f)
			}
		})
	}
}

// TestFluxControllersReconcile runs source-controller and helm-controller against a real API
// server holding the Flux CRDs, with the flags the local lane uses, waits for both /readyz
// endpoints and for each controller to reconcile one object of its kind.
func TestFluxControllersReconcile(t *testing.T) {
	ctx := t.Context()
	paths := ensureFlux(t)
	cp := cptest.Start(t)
	cfg := cp.RESTConfig()
	cptest.InstallCRDFiles(t, cfg, filepath.Join(fluxCRDs, "*.yaml"))
	_, err := kubernetes.NewForConfigOrDie(cfg).CoreV1().Namespaces().Create(ctx,
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "flux-system"}}, metav1.CreateOptions{})
	require.NoError(t, err)

	group, err := process.NewGroup(t.TempDir())
	require.NoError(t, err)
	// Registered after cptest's cleanup, so the controllers stop before the API server.
	t.Cleanup(func() { assert.NoError(t, group.Stop(context.Background())) })
	storage := filepath.Join(group.Dir(), "storage")
	require.NoError(t, os.Mkdir(storage, 0o700)) // source-controller refuses a missing path
	// source-controller's storage, metrics and health; helm-controller's metrics and health; and
	// one left closed, as an OCI registry that is not there.
	addr, err := local.LoopbackAddrs(6)
	require.NoError(t, err)
	source, err := group.Start(local.SourceControllerSpec(paths[bincache.SourceController], cp.Kubeconfig, storage,
		local.FluxAddrs{Storage: addr[0], Metrics: addr[1], Health: addr[2]}))
	require.NoError(t, err)
	helm, err := group.Start(local.HelmControllerSpec(paths[bincache.HelmController], cp.Kubeconfig,
		local.FluxAddrs{Metrics: addr[3], Health: addr[4]}))
	require.NoError(t, err)

	for _, c := range []condition.Condition{local.Readyz(source, addr[2]), local.Readyz(helm, addr[4])} {
		require.NoError(t, condition.Wait(ctx, c, condition.Poll{Interval: 200 * time.Millisecond, Timeout: 90 * time.Second}, nil))
	}

	// /readyz answers before the caches sync; a reconciled object shows the controllers work
	// against this API server. Nothing serves either source, so both end Ready=False, with the
	// reason of a controller that got as far as the source.
	c := fluxClient(t, cfg)
	oci := &sourcev1.OCIRepository{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "flux-system"},
		Spec: sourcev1.OCIRepositorySpec{
			URL: "oci://" + addr[5] + "/nothing/here", Reference: &sourcev1.OCIRepositoryRef{Tag: "0.1.0"},
			Insecure: true, Interval: metav1.Duration{Duration: time.Hour},
		},
	}
	require.NoError(t, c.Create(ctx, oci))
	require.NoError(t, c.Create(ctx, &sourcev1.ExternalArtifact{ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "flux-system"}}))
	hr := &helmv2.HelmRelease{
		ObjectMeta: metav1.ObjectMeta{Name: "demo", Namespace: "flux-system"},
		Spec: helmv2.HelmReleaseSpec{
			Interval: metav1.Duration{Duration: time.Hour},
			ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: sourcev1.ExternalArtifactKind, Name: "demo"},
		},
	}
	require.NoError(t, c.Create(ctx, hr))
	// Without --feature-gates=ExternalArtifact=true the reason would be AccessDenied. Until
	// helm-controller's cache has the ExternalArtifact it may first say ArtifactFailed.
	waitNotReady(t, ctx, c, hr, &helmv2.HelmReleaseList{}, "SourceNotReady")
	waitNotReady(t, ctx, c, oci, &sourcev1.OCIRepositoryList{}, sourcev1.OCIPullFailedReason)
}

func fluxClient(t *testing.T, cfg *rest.Config) client.WithWatch {
	t.Helper()
	s := runtime.NewScheme()
	require.NoError(t, sourcev1.AddToScheme(s))
	require.NoError(t, helmv2.AddToScheme(s))
	c, err := client.NewWithWatch(cfg, client.Options{Scheme: s})
	require.NoError(t, err)
	return c
}

// conditioned is a Flux object with status conditions.
type conditioned interface {
	client.Object
	GetConditions() []metav1.Condition
}

// waitNotReady watches obj until its controller marks it Ready=False with reason want, and
// fails naming the last Ready condition it saw when that does not happen within a minute.
func waitNotReady(t *testing.T, ctx context.Context, c client.WithWatch, obj conditioned, list client.ObjectList, want string) {
	t.Helper()
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	last := "no Ready condition"
	err := kubewatch.Until(wctx, c, list, func(ev watch.Event) (bool, error) {
		o, ok := ev.Object.(conditioned)
		if !ok {
			return false, nil
		}
		ready := apimeta.FindStatusCondition(o.GetConditions(), "Ready")
		if ready == nil {
			return false, nil
		}
		last = fmt.Sprintf("Ready=%s %s: %s", ready.Status, ready.Reason, ready.Message)
		return ready.Status == metav1.ConditionFalse && ready.Reason == want, nil
	}, client.InNamespace(obj.GetNamespace()), client.MatchingFields{"metadata.name": obj.GetName()})
	require.NoError(t, err, "wait for %s to be marked Ready=False %s; last seen: %s", obj.GetName(), want, last)
	t.Logf("%T %s: %s", obj, obj.GetName(), last)
}

// ensureFlux gets both controllers from the binaries cache, building what is missing.
func ensureFlux(t *testing.T) map[string]string {
	t.Helper()
	paths, err := (&bincache.Cache{}).Ensure(t.Context(), bincache.SourceController, bincache.HelmController)
	require.NoError(t, err, "get the Flux controllers from the binaries cache (go run mage.go bins)")
	return paths
}

func established(crd *apiextensionsv1.CustomResourceDefinition) bool {
	return slices.ContainsFunc(crd.Status.Conditions, func(c apiextensionsv1.CustomResourceDefinitionCondition) bool {
		return c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue
	})
}
