// Package flux is the Flux distribution the operator installs: its pinned versions and, next to
// them, the manifests generated from those versions (CRDs from the Flux API modules).
//
// This file is the one place Flux versions are listed. A bump is one change here plus
// `go run mage.go gen`, which moves the Flux API modules of the controller-gen tools module to
// these versions and regenerates the CRDs; `mage verify` fails while the two disagree.
//
// The set is Flux 2.7, the newest the local lane can build and run from the Go module proxy, so
// the CRDs the operator installs are exactly those its controllers serve. Upstream Cozystack's
// 2.8 set (source-controller v1.8.0, helm-controller v1.5.0, source-watcher v2.1.0) is a later
// bump of these lines. notification-controller is Flux 2.6's v1.6.0: the module proxy refuses
// every v1.7 (and v1.8) release of it, and the lab builds each controller it runs from there.
package flux

// Component is one Flux controller: the module its API types come from and its image.
type Component struct {
	Name      string
	APIModule string
	Version   string
	Image     string
}

// Versions of the Flux controllers the operator installs.
var (
	SourceController = Component{
		Name: "source-controller", APIModule: "github.com/fluxcd/source-controller/api",
		Version: "v1.7.2", Image: "ghcr.io/fluxcd/source-controller:v1.7.2",
	}
	HelmController = Component{
		Name: "helm-controller", APIModule: "github.com/fluxcd/helm-controller/api",
		Version: "v1.4.3", Image: "ghcr.io/fluxcd/helm-controller:v1.4.3",
	}
	SourceWatcher = Component{
		Name: "source-watcher", APIModule: "github.com/fluxcd/source-watcher/api/v2",
		Version: "v2.0.3", Image: "ghcr.io/fluxcd/source-watcher:v2.0.3",
	}
	KustomizeController = Component{
		Name: "kustomize-controller", APIModule: "github.com/fluxcd/kustomize-controller/api",
		Version: "v1.7.3", Image: "ghcr.io/fluxcd/kustomize-controller:v1.7.3",
	}
	NotificationController = Component{
		Name: "notification-controller", APIModule: "github.com/fluxcd/notification-controller/api",
		Version: "v1.6.0", Image: "ghcr.io/fluxcd/notification-controller:v1.6.0",
	}
)

// Components lists every controller, in install order.
func Components() []Component {
	return []Component{SourceController, HelmController, SourceWatcher, KustomizeController, NotificationController}
}
