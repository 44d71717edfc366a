package packageloop

import (
	"crypto/sha256"
	"encoding/hex"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
)

// Origin labels helm-controller puts on every object it installs; they point back at the
// HelmRelease.
const (
	LabelOriginName      = "helm.toolkit.fluxcd.io/name"
	LabelOriginNamespace = "helm.toolkit.fluxcd.io/namespace"
)

// maxReleaseName is Helm's limit on release names.
const maxReleaseName = 53

// ShortenName keeps a release name within Helm's 53 characters the way helm-controller does:
// a longer name becomes its first 40 characters, a dash and the first 12 hex digits of the
// SHA-256 of the whole name.
func ShortenName(name string) string {
	if len(name) <= maxReleaseName {
		return name
	}
	sum := sha256.Sum256([]byte(name))
	return name[:40] + "-" + hex.EncodeToString(sum[:])[:12]
}

// Target is where a HelmRelease's release lives: the release name, the namespace its objects
// go to and the namespace Helm keeps its release Secrets in.
type Target struct {
	ReleaseName      string
	Namespace        string
	StorageNamespace string
}

// TargetOf computes the release name and namespaces of hr as helm-controller does.
func TargetOf(hr *helmv2.HelmRelease) Target {
	return Target{
		ReleaseName:      ShortenName(hr.GetReleaseName()),
		Namespace:        hr.GetReleaseNamespace(),
		StorageNamespace: hr.GetStorageNamespace(),
	}
}

// OriginLabels are the labels helm-controller adds to every object of hr's release.
func OriginLabels(hr *helmv2.HelmRelease) map[string]string {
	return map[string]string{LabelOriginName: hr.Name, LabelOriginNamespace: hr.Namespace}
}
