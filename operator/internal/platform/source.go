// Package platform creates what the operator bootstraps the platform from: the Flux source of
// the platform artifact (OCIRepository or GitRepository, from --platform-source-url and
// --platform-source-ref) and the platform PackageSource pointing at it. Both are written with
// server-side apply, so labels and annotations other managers added survive a restart (upstream
// replaced the source with a full Update and dropped them).
package platform

import (
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Source kinds.
const (
	KindOCIRepository = "OCIRepository"
	KindGitRepository = "GitRepository"
)

// SourceInterval is the reconcile interval of the platform source.
const SourceInterval = 5 * time.Minute

// SourceKind maps a platform source URL to the Flux source kind: oci:// is an OCIRepository;
// https://, http:// and ssh:// are a GitRepository.
func SourceKind(url string) (string, error) {
	url = strings.TrimSpace(url)
	switch {
	case strings.HasPrefix(url, "oci://"):
		return KindOCIRepository, nil
	case strings.HasPrefix(url, "https://"), strings.HasPrefix(url, "http://"), strings.HasPrefix(url, "ssh://"):
		return KindGitRepository, nil
	case url == "":
		return "", errors.New("--platform-source-url is empty: want oci://… (OCIRepository) or https://, http://, ssh://… (GitRepository)")
	}
	return "", fmt.Errorf("--platform-source-url %q: unsupported scheme, want oci://… (OCIRepository) or https://, http://, ssh://… (GitRepository)", url)
}

var allowedRefKeys = map[string][]string{
	KindOCIRepository: {"digest", "semver", "semverFilter", "tag"},
	KindGitRepository: {"branch", "commit", "name", "semver", "tag"},
}

var hexRE = regexp.MustCompile(`^[0-9a-fA-F]+$`)

// ParseRef parses --platform-source-ref ("key=value[,key=value…]") for a source of kind. Pairs
// are trimmed, empty pairs skipped, a value may hold "=", a later key overwrites an earlier one.
func ParseRef(kind, ref string) (map[string]string, error) {
	out := map[string]string{}
	ref = strings.TrimSpace(ref)
	if ref == "" {
		return out, nil
	}
	for _, pair := range strings.Split(ref, ",") {
		pair = strings.TrimSpace(pair)
		if pair == "" {
			continue
		}
		k, v, ok := strings.Cut(pair, "=")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if !ok || k == "" || v == "" {
			return nil, fmt.Errorf("--platform-source-ref %q: %q is not key=value", ref, pair)
		}
		if !slices.Contains(allowedRefKeys[kind], k) {
			return nil, fmt.Errorf("--platform-source-ref: unknown key %q for an %s, valid keys: %s", k, kind, strings.Join(allowedRefKeys[kind], ", "))
		}
		out[k] = v
	}
	if d, ok := out["digest"]; ok && !strings.HasPrefix(d, "sha256:") {
		return nil, fmt.Errorf("--platform-source-ref: digest %q must start with sha256:", d)
	}
	if c, ok := out["commit"]; ok && (len(c) < 7 || !hexRE.MatchString(c)) {
		return nil, fmt.Errorf("--platform-source-ref: commit %q must be at least 7 hexadecimal characters", c)
	}
	return out, nil
}

// SourceOptions describe the platform source.
type SourceOptions struct {
	URL, Name, Secret string
	Ref               map[string]string
	// Insecure pulls an OCI source over plain HTTP (spec.insecure).
	Insecure bool
}

// Source builds the platform's Flux source object in cozy-system.
func Source(o SourceOptions) (client.Object, error) {
	kind, err := SourceKind(o.URL)
	if err != nil {
		return nil, err
	}
	objMeta := metav1.ObjectMeta{Name: o.Name, Namespace: v1alpha1.SystemNamespace}
	interval := metav1.Duration{Duration: SourceInterval}
	var secret *meta.LocalObjectReference
	if o.Secret != "" {
		secret = &meta.LocalObjectReference{Name: o.Secret}
	}
	for _, k := range slices.Sorted(maps.Keys(o.Ref)) {
		if !slices.Contains(allowedRefKeys[kind], k) {
			return nil, fmt.Errorf("platform source ref key %q is not valid for an %s", k, kind)
		}
	}
	if kind == KindOCIRepository {
		repo := &sourcev1.OCIRepository{
			TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: kind},
			ObjectMeta: objMeta,
			Spec:       sourcev1.OCIRepositorySpec{URL: strings.TrimSpace(o.URL), Interval: interval, SecretRef: secret, Insecure: o.Insecure},
		}
		if len(o.Ref) > 0 {
			repo.Spec.Reference = &sourcev1.OCIRepositoryRef{
				Digest: o.Ref["digest"], SemVer: o.Ref["semver"], SemverFilter: o.Ref["semverFilter"], Tag: o.Ref["tag"],
			}
		}
		return repo, nil
	}
	repo := &sourcev1.GitRepository{
		TypeMeta:   metav1.TypeMeta{APIVersion: sourcev1.GroupVersion.String(), Kind: kind},
		ObjectMeta: objMeta,
		Spec:       sourcev1.GitRepositorySpec{URL: strings.TrimSpace(o.URL), Interval: interval, SecretRef: secret},
	}
	if len(o.Ref) > 0 {
		repo.Spec.Reference = &sourcev1.GitRepositoryRef{
			Branch: o.Ref["branch"], Tag: o.Ref["tag"], SemVer: o.Ref["semver"], Name: o.Ref["name"], Commit: o.Ref["commit"],
		}
	}
	return repo, nil
}
