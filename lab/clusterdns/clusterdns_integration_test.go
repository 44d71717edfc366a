//go:build integration

package clusterdns

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
)

// heldIP is an IPAddress object for ip whose parent is the Service ns/name, as the API server
// writes it before it stores that Service.
func heldIP(ip, ns, name string) *networkingv1.IPAddress {
	return &networkingv1.IPAddress{ObjectMeta: metav1.ObjectMeta{Name: ip},
		Spec: networkingv1.IPAddressSpec{ParentRef: &networkingv1.ParentReference{Resource: "services", Namespace: ns, Name: name}}}
}

// A lab killed while the API server created kube-dns leaves its IP allocated to a Service that
// was never stored; applying CoreDNS again frees it and creates the Service at that IP.
func TestApplyFreesTheIPOfAServiceThatWasNeverStored(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(cptest.Config(t), client.Options{})
	require.NoError(t, err)
	o := Options{Image: "registry.k8s.io/coredns/coredns:v1.13.1", ServiceIP: netip.MustParseAddr("10.96.0.10")}

	require.NoError(t, c.Create(ctx, heldIP("10.96.0.10", Namespace, ServiceName)))
	require.NoError(t, Apply(ctx, c, o))

	svc := &corev1.Service{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Namespace: Namespace, Name: ServiceName}, svc))
	assert.Equal(t, "10.96.0.10", svc.Spec.ClusterIP)
	ip := &networkingv1.IPAddress{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "10.96.0.10"}, ip))
	require.NotNil(t, ip.Spec.ParentRef)
	assert.Equal(t, ServiceName, ip.Spec.ParentRef.Name, "the address is the new Service's")

	// Applying again with the Service in place leaves its address alone.
	uid := ip.UID
	require.NoError(t, Apply(ctx, c, o))
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "10.96.0.10"}, ip))
	assert.Equal(t, uid, ip.UID)
}

// An address another Service holds is never taken from it: Apply fails naming the holder.
func TestApplyNamesTheServiceHoldingItsIP(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c, err := client.New(cptest.Config(t), client.Options{})
	require.NoError(t, err)
	require.NoError(t, c.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "other", Namespace: "default"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.10", Ports: []corev1.ServicePort{{Port: 80}}}}))

	err = Apply(ctx, c, Options{Image: "registry.k8s.io/coredns/coredns:v1.13.1", ServiceIP: netip.MustParseAddr("10.96.0.10")})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "ClusterIP 10.96.0.10 of Service kube-system/kube-dns is held by services default/other")
	ip := &networkingv1.IPAddress{}
	require.NoError(t, c.Get(ctx, client.ObjectKey{Name: "10.96.0.10"}, ip))
	assert.Equal(t, "other", ip.Spec.ParentRef.Name, "the other Service keeps its address")
}
