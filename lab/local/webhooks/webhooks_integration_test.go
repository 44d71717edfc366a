//go:build integration

package webhooks

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
)

// A webhook whose Service has only endpoints on simulated nodes gets failurePolicy Ignore, is
// named in the annotation and reported; one with an endpoint on a real node, one without a
// service and one already Ignore stay as they are. Both kinds of configuration are handled.
func TestSimulatedWebhooksAreIgnoredAndNamed(t *testing.T) {
	ctx := t.Context()
	cp := cptest.Start(t)
	c, err := client.New(cp.RESTConfig(), client.Options{})
	require.NoError(t, err)

	for name, simulated := range map[string]bool{"srv1": true, "real1": false} {
		n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if simulated {
			n.Annotations = map[string]string{SimulatedNodeAnnotation: "fake"}
		}
		require.NoError(t, c.Create(ctx, n))
	}
	for service, node := range map[string]string{"sim": "srv1", "real": "real1"} {
		require.NoError(t, c.Create(ctx, &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: service + "-1", Namespace: "default", Labels: map[string]string{discoveryv1.LabelServiceName: service}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}, NodeName: &node}},
		}))
	}
	fail, ignore := admissionv1.Fail, admissionv1.Ignore
	none := admissionv1.SideEffectClassNone
	hook := func(name, service string, policy *admissionv1.FailurePolicyType) admissionv1.ValidatingWebhook {
		cc := admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: "default", Name: service}}
		if service == "" {
			url := "https://example.invalid/validate"
			cc = admissionv1.WebhookClientConfig{URL: &url}
		}
		return admissionv1.ValidatingWebhook{Name: name, ClientConfig: cc, FailurePolicy: policy, SideEffects: &none, AdmissionReviewVersions: []string{"v1"}}
	}
	require.NoError(t, c.Create(ctx, &admissionv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "chart-hooks"},
		Webhooks: []admissionv1.ValidatingWebhook{
			hook("sim.example.io", "sim", &fail), hook("real.example.io", "real", &fail),
			hook("url.example.io", "", &fail), hook("ignored.example.io", "sim", &ignore),
		},
	}))
	require.NoError(t, c.Create(ctx, &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: "chart-mutators"},
		Webhooks: []admissionv1.MutatingWebhook{{Name: "mutate.example.io", SideEffects: &none, AdmissionReviewVersions: []string{"v1"},
			ClientConfig: admissionv1.WebhookClientConfig{Service: &admissionv1.ServiceReference{Namespace: "default", Name: "sim"}}}},
	}))

	var mu sync.Mutex
	reported := map[string][]string{}
	// An empty scheme, as the local lab's manager has: the controller registers what it needs.
	mgr, err := ctrl.NewManager(cp.RESTConfig(), ctrl.Options{Scheme: runtime.NewScheme(),
		Metrics: metricsserver.Options{BindAddress: "0"}, HealthProbeBindAddress: "0"})
	require.NoError(t, err)
	r := &Relaxer{Client: mgr.GetClient(), Report: func(kind, name string, hooks []string) {
		mu.Lock()
		defer mu.Unlock()
		reported[kind+"/"+name] = append(reported[kind+"/"+name], hooks...)
	}}
	require.NoError(t, r.SetupWithManager(mgr))
	mctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- mgr.Start(mctx) }()
	t.Cleanup(func() { stop(); assert.NoError(t, <-done) })

	v := &admissionv1.ValidatingWebhookConfiguration{}
	m := &admissionv1.MutatingWebhookConfiguration{}
	require.Eventually(t, func() bool {
		return c.Get(ctx, types.NamespacedName{Name: "chart-hooks"}, v) == nil && v.Annotations[Annotation] != "" &&
			c.Get(ctx, types.NamespacedName{Name: "chart-mutators"}, m) == nil && m.Annotations[Annotation] != ""
	}, time.Minute, 100*time.Millisecond, "the controller marks both configurations")
	policies := map[string]admissionv1.FailurePolicyType{}
	for _, w := range v.Webhooks {
		policies[w.Name] = *w.FailurePolicy
	}
	assert.Equal(t, map[string]admissionv1.FailurePolicyType{
		"sim.example.io": ignore, "real.example.io": fail, "url.example.io": fail, "ignored.example.io": ignore,
	}, policies)
	assert.Equal(t, "sim.example.io", v.Annotations[Annotation], "only what the lab changed is named")
	assert.Equal(t, ignore, *m.Webhooks[0].FailurePolicy)
	assert.Equal(t, "mutate.example.io", m.Annotations[Annotation])
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, map[string][]string{
		Validating + "/chart-hooks": {"sim.example.io"}, Mutating + "/chart-mutators": {"mutate.example.io"},
	}, reported, "every change is reported")
}
