package appdefcontroller

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

const (
	// ControllerName is upstream's name for this controller (logs and metrics).
	ControllerName = "applicationdefinition-controller"
	// DefaultDebounce is how long the set of definitions must stay unchanged before
	// cozystack-api is restarted, so a platform upgrade that touches tens of them restarts it once.
	DefaultDebounce = 5 * time.Second
	// DefaultDeploymentName is the Deployment of the aggregated API server, in
	// v1alpha1.SystemNamespace.
	DefaultDeploymentName = "cozystack-api"
)

// Reconciler restarts cozystack-api when the set of ApplicationDefinitions changes, by writing
// the set's ConfigHash to the v1alpha1.AnnotationConfigHash annotation of the Deployment's pod
// template. The zero value, set up with SetupWithManager, is upstream's behaviour.
type Reconciler struct {
	// Debounce is how long the set must stay quiet first; zero means DefaultDebounce.
	Debounce time.Duration
	// Deployment is the Deployment to restart; zero means cozy-system/cozystack-api.
	Deployment types.NamespacedName
	// Clock tells the time for the debounce; nil means the real clock.
	Clock clock.PassiveClock

	client      client.Client // lists definitions (manager cache) and patches the Deployment
	deployments client.Reader // the Deployment, from a cache holding only it
	changes     *debouncer
	observe     func(outcome) // tests: called after every Reconcile that did not fail
}

// outcome is what an evaluation of the set did.
type outcome struct {
	seq    uint64 // definition changes seen when it started
	hash   string
	action action
}

type action string

const (
	deferred          action = "Deferred" // within the debounce window
	deploymentMissing action = "DeploymentMissing"
	hashUnchanged     action = "Unchanged"
	patched           action = "Patched"
)

// Reconcile handles the single request for the Deployment: once the definitions have been
// quiet for the debounce window, it brings the pod template's hash up to date, writing only
// when it differs.
func (r *Reconciler) Reconcile(ctx context.Context, _ ctrl.Request) (ctrl.Result, error) {
	seq, wait := r.changes.remaining()
	if wait > 0 {
		r.report(outcome{seq: seq, action: deferred})
		return ctrl.Result{RequeueAfter: wait}, nil
	}
	out, err := r.sync(ctx)
	if err != nil {
		return ctrl.Result{}, err
	}
	out.seq = seq
	r.report(out)
	return ctrl.Result{}, nil
}

func (r *Reconciler) report(o outcome) {
	if r.observe != nil {
		r.observe(o)
	}
}

func (r *Reconciler) sync(ctx context.Context) (outcome, error) {
	logger := log.FromContext(ctx)
	defs := &v1alpha1.ApplicationDefinitionList{}
	if err := r.client.List(ctx, defs); err != nil {
		return outcome{}, fmt.Errorf("list ApplicationDefinitions: %w", err)
	}
	hash, err := ConfigHash(defs.Items)
	if err != nil {
		return outcome{}, err
	}
	dep := &appsv1.Deployment{}
	if err := r.deployments.Get(ctx, r.Deployment, dep); err != nil {
		if apierrors.IsNotFound(err) {
			// Its creation is watched and brings us back.
			logger.Info("Deployment not found, will restart it once it exists", "deployment", r.Deployment)
			return outcome{hash: hash, action: deploymentMissing}, nil
		}
		return outcome{}, fmt.Errorf("get Deployment %s: %w", r.Deployment, err)
	}
	if dep.Spec.Template.Annotations[v1alpha1.AnnotationConfigHash] == hash {
		logger.V(1).Info("ApplicationDefinitions unchanged", "hash", hash)
		return outcome{hash: hash, action: hashUnchanged}, nil
	}
	patch := client.MergeFrom(dep.DeepCopy())
	if dep.Spec.Template.Annotations == nil {
		dep.Spec.Template.Annotations = map[string]string{}
	}
	dep.Spec.Template.Annotations[v1alpha1.AnnotationConfigHash] = hash
	if err := r.client.Patch(ctx, dep, patch); err != nil {
		if apierrors.IsNotFound(err) {
			return outcome{hash: hash, action: deploymentMissing}, nil
		}
		return outcome{}, fmt.Errorf("patch Deployment %s: %w", r.Deployment, err)
	}
	logger.Info("ApplicationDefinitions changed, restarting", "deployment", r.Deployment, "hash", hash)
	return outcome{hash: hash, action: patched}, nil
}
