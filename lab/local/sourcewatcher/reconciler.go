package sourcewatcher

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"

	"github.com/fluxcd/pkg/apis/meta"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	sw "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Options configure the Reconciler.
type Options struct {
	// Addr is the host:port the artifacts are served on. The host must be 127.0.0.1; port 0
	// picks a free port (see Reconciler.URL).
	Addr string
	// Prefer, when set, is tried before Addr: where an earlier stand-in of the same lab served,
	// which the ExternalArtifacts in the cluster still name.
	Prefer string
	// StorageDir holds the built tarballs; it is created if missing.
	StorageDir string
	// AdvertiseAddr, when set, is the host[:port] the artifact URLs name instead of the listen
	// address, as upstream's --storage-adv-addr: in a pod, the Service in front of it
	// ("source-watcher.cozy-fluxcd.svc"), which helm-controller recognises and rewrites to its
	// SOURCE_WATCHER_LOCALHOST.
	AdvertiseAddr string
	// SourceLocalhost, when set, is the host:port source artifacts are downloaded from instead of
	// the host their URL names, as upstream's SOURCE_CONTROLLER_LOCALHOST: in the Flux pod,
	// source-controller on the pod's loopback.
	SourceLocalhost string
	// HTTPClient downloads source artifacts; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Reconciler fulfils ArtifactGenerators: it builds their output artifacts, serves them and
// writes their ExternalArtifacts.
type Reconciler struct {
	opts     Options
	client   client.Client
	store    *storage
	fetcher  *fetcher
	listener net.Listener
}

// New returns a Reconciler for opts; SetupWithManager starts it.
func New(opts Options) *Reconciler {
	return &Reconciler{opts: opts, store: &storage{root: opts.StorageDir}, fetcher: newFetcher(opts.HTTPClient, opts.SourceLocalhost)}
}

// URL is the base URL the artifacts are advertised under: Options.AdvertiseAddr when set, else
// the listen address, known once SetupWithManager has run.
func (r *Reconciler) URL() string {
	if r.opts.AdvertiseAddr != "" {
		return "http://" + r.opts.AdvertiseAddr
	}
	if r.listener == nil {
		return ""
	}
	return "http://" + r.listener.Addr().String()
}

// sourceIndex indexes generators by the sources they name, as "<kind>/<namespace>/<name>".
const sourceIndex = ".spec.sources.key"

func sourceKey(kind, namespace, name string) string {
	return kind + "/" + namespace + "/" + name
}

// SetupWithManager registers the API types in the manager's scheme, starts listening on
// Options.Addr, adds the artifact server to the manager and the controller with its watches:
// generators, the ExternalArtifacts they own, and the OCIRepositories, GitRepositories and
// Buckets they name (a source triggers its generators when its artifact changes). The Flux
// source, ExternalArtifact and ArtifactGenerator CRDs must be installed before the manager
// starts: the controller watches all five kinds.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	if r.opts.StorageDir == "" {
		return errors.New("set up source-watcher stand-in: no storage directory")
	}
	if err := os.MkdirAll(r.opts.StorageDir, 0o755); err != nil {
		return fmt.Errorf("create storage directory: %w", err)
	}
	if err := errors.Join(sw.AddToScheme(mgr.GetScheme()), sourcev1.AddToScheme(mgr.GetScheme())); err != nil {
		return fmt.Errorf("register source API types: %w", err)
	}
	var l net.Listener
	if r.opts.Prefer != "" {
		l, _ = listenLoopback(r.opts.Prefer) // taken: any free port below
	}
	if l == nil {
		var err error
		if l, err = listenLoopback(r.opts.Addr); err != nil {
			return err
		}
	}
	r.listener = l
	r.client = mgr.GetClient()
	h := r.store.handler()
	if err := mgr.Add(manager.RunnableFunc(func(ctx context.Context) error { return serve(ctx, l, h) })); err != nil {
		return errors.Join(fmt.Errorf("add artifact server: %w", err), l.Close())
	}
	if err := mgr.GetFieldIndexer().IndexField(context.Background(), &sw.ArtifactGenerator{}, sourceIndex, indexSources); err != nil {
		return fmt.Errorf("index generators by source: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("sourcewatcher").
		For(&sw.ArtifactGenerator{}, builder.WithPredicates(predicate.Or(predicate.GenerationChangedPredicate{}, predicate.AnnotationChangedPredicate{}))).
		Owns(&sourcev1.ExternalArtifact{}).
		Watches(&sourcev1.OCIRepository{}, r.enqueueFor(sourcev1.OCIRepositoryKind), builder.WithPredicates(artifactChanged)).
		Watches(&sourcev1.GitRepository{}, r.enqueueFor(sourcev1.GitRepositoryKind), builder.WithPredicates(artifactChanged)).
		Watches(&sourcev1.Bucket{}, r.enqueueFor(sourcev1.BucketKind), builder.WithPredicates(artifactChanged)).
		WithOptions(controller.Options{MaxConcurrentReconciles: 2}).
		Complete(r)
}

func indexSources(o client.Object) []string {
	ag, ok := o.(*sw.ArtifactGenerator)
	if !ok {
		return nil
	}
	keys := make([]string, 0, len(ag.Spec.Sources))
	for _, s := range ag.Spec.Sources {
		keys = append(keys, sourceKey(s.Kind, sourceNamespace(ag, s), s.Name))
	}
	return keys
}

func sourceNamespace(ag *sw.ArtifactGenerator, s sw.SourceReference) string {
	if s.Namespace != "" {
		return s.Namespace
	}
	return ag.Namespace
}

// enqueueFor maps a source of kind to the generators naming it.
func (r *Reconciler) enqueueFor(kind string) handler.EventHandler {
	return handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, o client.Object) []reconcile.Request {
		var list sw.ArtifactGeneratorList
		if err := r.client.List(ctx, &list, client.MatchingFields{sourceIndex: sourceKey(kind, o.GetNamespace(), o.GetName())}); err != nil {
			ctrl.LoggerFrom(ctx).Error(err, "list generators of source", "kind", kind, "source", client.ObjectKeyFromObject(o))
			return nil
		}
		reqs := make([]reconcile.Request, 0, len(list.Items))
		for _, ag := range list.Items {
			reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&ag)})
		}
		return reqs
	})
}

// artifactHolder is a Flux source with an artifact.
type artifactHolder interface {
	GetArtifact() *meta.Artifact
}

// artifactChanged passes creations, deletions and updates that change a source's artifact.
var artifactChanged = predicate.Funcs{
	UpdateFunc: func(e event.UpdateEvent) bool {
		o, ok1 := e.ObjectOld.(artifactHolder)
		n, ok2 := e.ObjectNew.(artifactHolder)
		return !ok1 || !ok2 || !equality.Semantic.DeepEqual(o.GetArtifact(), n.GetArtifact())
	},
}

// Reconcile builds one generator's artifacts and reports on its status. A bad spec or a source
// without an artifact gives Ready=False and no retry (a change of either triggers a new run); a
// download or API failure is returned, so the run is retried.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	ag := &sw.ArtifactGenerator{}
	if err := r.client.Get(ctx, req.NamespacedName, ag); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, r.forget(ctx, req.Namespace, req.Name)
		}
		return ctrl.Result{}, fmt.Errorf("get ArtifactGenerator %s: %w", req.NamespacedName, err)
	}
	if !ag.DeletionTimestamp.IsZero() || ag.IsDisabled() {
		return ctrl.Result{}, nil
	}
	before := ag.Status.DeepCopy()
	patch := client.MergeFrom(ag.DeepCopy())
	if v, ok := meta.ReconcileAnnotationValue(ag.GetAnnotations()); ok {
		ag.Status.LastHandledReconcileAt = v
	}
	runErr := r.generate(ctx, ag)
	if equality.Semantic.DeepEqual(before, &ag.Status) {
		return ctrl.Result{}, runErr
	}
	if err := r.client.Status().Patch(ctx, ag, patch); err != nil {
		return ctrl.Result{}, errors.Join(runErr, fmt.Errorf("patch ArtifactGenerator %s status: %w", req.NamespacedName, err))
	}
	return ctrl.Result{}, runErr
}

// forget removes what a deleted generator left: its stored tarballs, then its labelled
// ExternalArtifacts (garbage collection does this too where kube-controller-manager runs), so
// an ExternalArtifact that is gone never points at a tarball still served.
func (r *Reconciler) forget(ctx context.Context, namespace, name string) error {
	if err := r.store.prune(namespace, name, nil); err != nil {
		return err
	}
	err := r.client.DeleteAllOf(ctx, &sourcev1.ExternalArtifact{}, client.InNamespace(namespace), client.MatchingLabels{sw.ArtifactGeneratorLabel: name})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete ExternalArtifacts of %s/%s: %w", namespace, name, err)
	}
	return nil
}
