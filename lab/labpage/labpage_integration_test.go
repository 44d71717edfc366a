//go:build integration

package labpage

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
)

// TestPageShowsNodesReleasesAndEvents serves the page from a real API server holding a node,
// two HelmReleases (one Ready, one failing) and a warning event, and checks what it shows: the
// failing release first with its message, and that a change shows on the next load.
func TestPageShowsNodesReleasesAndEvents(t *testing.T) {
	ctx := context.Background()
	cfg := cptest.Config(t)
	cptest.InstallCRDFiles(t, cfg, "../../packages/core/flux-aio/crds/helm.toolkit.fluxcd.io_helmreleases.yaml")
	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, apiextensionsv1.AddToScheme(scheme))
	require.NoError(t, helmv2.AddToScheme(scheme))
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)

	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node1"}}
	require.NoError(t, c.Create(ctx, node))
	node.Status = corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Message: "kubelet is posting ready status", LastHeartbeatTime: metav1.Now(), LastTransitionTime: metav1.Now()}},
		Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "10.213.0.2"}},
	}
	require.NoError(t, c.Status().Update(ctx, node))
	release := func(name string, ready metav1.ConditionStatus, reason, msg string) {
		hr := &helmv2.HelmRelease{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
			Spec: helmv2.HelmReleaseSpec{Interval: metav1.Duration{Duration: time.Minute},
				ChartRef: &helmv2.CrossNamespaceSourceReference{Kind: "ExternalArtifact", Name: name}}}
		require.NoError(t, c.Create(ctx, hr))
		hr.Status.Conditions = []metav1.Condition{{Type: "Ready", Status: ready, Reason: reason, Message: msg, LastTransitionTime: metav1.Now()}}
		require.NoError(t, c.Status().Update(ctx, hr))
	}
	release("good", metav1.ConditionTrue, "InstallSucceeded", "Helm install succeeded")
	release("broken", metav1.ConditionFalse, "InstallFailed", "ConfigMap in version \"v1\" cannot be handled")
	require.NoError(t, c.Create(ctx, &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: "default", Name: "broken.1"},
		InvolvedObject: corev1.ObjectReference{Kind: "HelmRelease", Namespace: "default", Name: "broken"},
		Reason:         "InstallFailed", Message: "install retries exhausted", Type: corev1.EventTypeWarning,
		LastTimestamp: metav1.Now(),
	}))

	srv := httptest.NewServer(Handler("dev", c))
	defer srv.Close()
	get := func() string {
		resp, err := http.Get(srv.URL + "/")
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return string(body)
	}
	body := get()
	assert.Contains(t, body, "<h1>Lab dev</h1>")
	assert.Contains(t, body, `<meta http-equiv="refresh" content="5">`, "the page follows the lab")
	assert.Contains(t, body, "10.213.0.2 — kubelet is posting ready status")
	assert.Contains(t, body, "HelmReleases (2)")
	assert.Contains(t, body, "False (InstallFailed)")
	assert.Contains(t, body, "ConfigMap in version &#34;v1&#34; cannot be handled", "the message, escaped")
	assert.Less(t, strings.Index(body, "default/broken"), strings.Index(body, "default/good"), "what is not Ready comes first")
	assert.Contains(t, body, "install retries exhausted")

	release("late", metav1.ConditionTrue, "InstallSucceeded", "Helm install succeeded")
	assert.Contains(t, get(), "HelmReleases (3)", "the next load shows the change")

	resp, err := http.Get(srv.URL + "/nothing")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
