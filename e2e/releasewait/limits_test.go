package releasewait

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLabLimitOf(t *testing.T) {
	tests := []struct {
		name, message string
		want          LabLimit
	}{
		{"webhook without endpoints", `Helm install failed for release cozy-x/x with chart x@1.0.0: Internal error occurred: failed calling webhook "vcluster.kb.io": failed to call webhook: Post "https://x-webhook.cozy-x.svc:443/validate?timeout=10s": no endpoints available for service "x-webhook"`, LimitWebhook},
		{"no endpoints alone", `no endpoints available for service "cert-manager-webhook"`, LimitWebhook},
		{"webhook refusing connections", `Post "https://kyverno-svc.kyverno.svc:443/mutate?timeout=10s": dial tcp 10.96.12.4:443: connect: connection refused`, LimitWebhook},
		{"webhook in the words", `calling webhook: connection refused`, LimitWebhook},
		{"aggregated API down", `unable to build kubernetes objects from release manifest: unable to retrieve the complete list of server APIs: metrics.k8s.io/v1beta1: the server is currently unable to handle the request`, LimitAggregatedAPI},
		{"unable to handle", `the server is currently unable to handle the request (get apiservices.apiregistration.k8s.io)`, LimitAggregatedAPI},
		{"APIService not available", `APIService v1beta1.metrics.k8s.io is not available: FailedDiscoveryCheck`, LimitAggregatedAPI},
		{"stale discovery", `stale GroupVersion discovery: metrics.k8s.io/v1beta1`, LimitAggregatedAPI},
		{"no matches for kind", `unable to build kubernetes objects from release manifest: resource mapping not found for name: "x" namespace: "" from "": no matches for kind "ClusterIssuer" in version "cert-manager.io/v1"` + "\nensure CRDs are installed first", LimitMissingCRD},
		{"resource mapping", `resource mapping not found for name: "x"`, LimitMissingCRD},
		{"ensure CRDs", `ensure CRDs are installed first`, LimitMissingCRD},
		{"image pull back-off", `Deployment/cozy-x/x: pod x-1 container x: ImagePullBackOff: Back-off pulling image "ghcr.io/x/x:1"`, LimitImage},
		{"ErrImagePull", `container x is waiting: ErrImagePull`, LimitImage},
		{"pull access denied", `failed to pull and unpack image "docker.io/library/nope:1": pull access denied, repository does not exist or may require authorization`, LimitImage},
		{"a chart error", `Helm install failed: template: x/templates/deploy.yaml:3: function "nope" not defined`, ""},
		{"a timeout", `context deadline exceeded`, ""},
		{"connection refused outside the cluster", `Get "https://ghcr.io/v2/": dial tcp 1.2.3.4:443: connect: connection refused`, ""},
		{"dependency", `dependency 'cozy-x/y' is not ready`, ""},
		{"empty", ``, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, LabLimitOf(tt.message))
		})
	}
}
