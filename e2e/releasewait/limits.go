package releasewait

import (
	"regexp"
	"strings"
)

// LabLimit is why a release is blocked by a limit of the lab rather than by a fault of its own:
// the lab runs no such webhook, API, CRD or image, so no retry can help. Keep-going mode
// reports such releases apart from the ones that failed by themselves.
type LabLimit string

// The lab limits a release's message is recognised by.
const (
	// LimitWebhook is an admission webhook that cannot be called: its service has no endpoints
	// or refuses connections.
	LimitWebhook LabLimit = "webhook"
	// LimitAggregatedAPI is an aggregated API (an APIService) that is unavailable, which also
	// breaks discovery for every client that lists the server's APIs.
	LimitAggregatedAPI LabLimit = "aggregated-api"
	// LimitMissingCRD is a chart object of a kind the cluster does not know.
	LimitMissingCRD LabLimit = "missing-crd"
	// LimitImage is an image that cannot be pulled.
	LimitImage LabLimit = "image"
)

// labLimitRules are tried in order; the first that matches a message names the limit. Matching
// is on the lower-cased message, and each phrase is what the API server, Helm or the kubelet
// writes verbatim.
var labLimitRules = []struct {
	limit LabLimit
	match func(msg string) bool
}{
	{LimitWebhook, func(m string) bool {
		return containsAny(m, "failed calling webhook", "no endpoints available for service") ||
			(strings.Contains(m, "connection refused") && (strings.Contains(m, "webhook") || serviceURL.MatchString(m)))
	}},
	{LimitAggregatedAPI, func(m string) bool {
		return containsAny(m, "the server is currently unable to handle the request",
			"unable to retrieve the complete list of server apis", "stale groupversion discovery") ||
			apiServiceUnavailable.MatchString(m)
	}},
	{LimitMissingCRD, func(m string) bool {
		return containsAny(m, "no matches for kind", "ensure crds are installed first", "resource mapping not found")
	}},
	{LimitImage, func(m string) bool {
		return containsAny(m, "imagepullbackoff", "errimagepull", "pull access denied")
	}},
}

var (
	// serviceURL is an in-cluster service address, as in `Post "https://x.ns.svc:443/validate"`.
	serviceURL = regexp.MustCompile(`[a-z0-9-]+\.[a-z0-9-]+\.svc(\.cluster\.local)?(:[0-9]+)?(/|"|\s|$)`)
	// apiServiceUnavailable is an APIService reported not available, as in
	// `apiservice "v1beta1.metrics.k8s.io" is not available` or `APIService ... not available`.
	apiServiceUnavailable = regexp.MustCompile(`apiservices?\b[^\n]*\bnot available`)
)

// LabLimitOf returns the lab limit a message names, or "" when it names none.
func LabLimitOf(message string) LabLimit {
	m := strings.ToLower(message)
	for _, r := range labLimitRules {
		if r.match(m) {
			return r.limit
		}
	}
	return ""
}

func containsAny(s string, subs ...string) bool {
	for _, sub := range subs {
		if strings.Contains(s, sub) {
			return true
		}
	}
	return false
}
