package local

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/pki"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/images"
	"github.com/cozylab/cozylab/lab/local/placement"
	"github.com/cozylab/cozylab/lab/registry"
)

// ActionPlacement serves the rule that sends pods to the real node or the simulated ones.
const ActionPlacement = "Starting the pod placement webhook"

// placementWebhook is the MutatingWebhookConfiguration of the placement rule.
const placementWebhook = "cozylab-placement"

// startPlacement serves the placement webhook on the real node's host address (TLS from the lab
// CA) and registers it with the API server.
func (l *lab) startPlacement(ctx context.Context, step progress.Step) error {
	c := l.cluster
	caPEM, err := os.ReadFile(c.CACertFile)
	if err != nil {
		return err
	}
	caKey, err := os.ReadFile(c.CAKeyFile)
	if err != nil {
		return err
	}
	ca, err := pki.ParseCA(caPEM, caKey)
	if err != nil {
		return err
	}
	pair, err := ca.Issue(pki.Request{CommonName: placementWebhook, IPs: []net.IP{net.IP(l.plan.Host.AsSlice())}, Server: true})
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(pair.CertPEM, pair.KeyPEM)
	if err != nil {
		return err
	}
	ln, err := tls.Listen("tcp", net.JoinHostPort(l.plan.Host.String(), "0"), &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12})
	if err != nil {
		return fmt.Errorf("listen for the placement webhook: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/place", placement.Handler(l.labHasImage))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	l.stops = append(l.stops, func(ctx context.Context) error {
		if err := srv.Shutdown(ctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	})
	url := "https://" + ln.Addr().String() + "/place"
	cfg := &admissionv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: placementWebhook},
		Webhooks: []admissionv1.MutatingWebhook{{
			Name:                    "placement.cozylab.io",
			ClientConfig:            admissionv1.WebhookClientConfig{URL: &url, CABundle: caPEM},
			Rules:                   []admissionv1.RuleWithOperations{{Operations: []admissionv1.OperationType{admissionv1.Create}, Rule: admissionv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}}}},
			FailurePolicy:           ptr.To(admissionv1.Ignore),
			SideEffects:             ptr.To(admissionv1.SideEffectClassNone),
			AdmissionReviewVersions: []string{"v1"},
			TimeoutSeconds:          ptr.To[int32](5),
			ReinvocationPolicy:      ptr.To(admissionv1.NeverReinvocationPolicy),
		}},
	}
	cl, err := client.New(c.RESTConfig(), client.Options{})
	if err != nil {
		return err
	}
	if err := applyObject(ctx, cl, cfg); err != nil {
		return err
	}
	step.Status("pods whose every image the lab registry has run on the real node, the rest on the simulated nodes (%s)", url)
	return nil
}

// labHasImage reports whether the real node can pull image: its registry is one containerd
// mirrors to the lab registry (or the lab registry itself) and the lab registry holds it.
func (l *lab) labHasImage(ctx context.Context, image string) (bool, error) {
	ref, err := name.ParseReference(image)
	if err != nil {
		return false, nil // the kubelet will say what is wrong with it
	}
	host, addr := ref.Context().RegistryStr(), l.reg.Addr()
	inLab := ref.Name() // "<host>/<path>:<tag>", with the implicit :latest made explicit
	if host != addr {
		if !slices.Contains(images.Hosts(), host) {
			return false, nil
		}
		if inLab, err = registry.MirrorRef(addr, inLab); err != nil {
			return false, err
		}
	}
	local, err := name.ParseReference(inLab, name.Insecure)
	if err != nil {
		return false, err
	}
	return registry.Holds(ctx, local, v1.Hash{})
}
