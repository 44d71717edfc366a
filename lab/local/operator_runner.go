package local

import (
	"context"
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/cozylab/cozylab/internal/process"
	"github.com/cozylab/cozylab/internal/progress"
)

// OperatorRunner plays the kubelet for the installer chart's operator Deployment: whenever
// the Deployment appears or its container changes it (re)starts the image's binary as a local
// process; when it goes away it stops it. Logs go to the cluster's run directory.
type OperatorRunner struct {
	Client     kubernetes.Interface
	Start      func(process.Spec) (*process.Process, error)
	Dir        string // where images are extracted
	Kubeconfig string
	Progress   progress.Reporter

	current *process.Process
	key     string
}

// Run watches the Deployment until ctx ends, then stops the process.
func (r *OperatorRunner) Run(ctx context.Context) error {
	latest := make(chan *appsv1.Deployment, 1)
	push := func(d *appsv1.Deployment) {
		select {
		case <-latest:
		default:
		}
		latest <- d
	}
	factory := informers.NewSharedInformerFactoryWithOptions(r.Client, 0, informers.WithNamespace(OperatorNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", OperatorDeployment).String()
		}))
	inf := factory.Apps().V1().Deployments().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(o any) { push(o.(*appsv1.Deployment)) },
		UpdateFunc: func(_, o any) { push(o.(*appsv1.Deployment)) },
		DeleteFunc: func(any) { push(nil) },
	}); err != nil {
		return fmt.Errorf("watch the operator deployment: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	var last *appsv1.Deployment
	for {
		select {
		case <-ctx.Done():
			return r.stop(context.WithoutCancel(ctx))
		case last = <-latest:
		case <-r.exited():
			// Like a kubelet: a crashed container is restarted, after a pause.
			r.Progress.Begin("Local operator process").Done(fmt.Errorf("exited (%v); restarting in %s; the end of its log:\n%s",
				r.current.ExitError(), restartDelay, r.current.LogTail(10)))
			r.current, r.key = nil, ""
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(restartDelay):
			}
		}
		if err := r.sync(ctx, last); err != nil && ctx.Err() == nil {
			r.Progress.Begin("Running the operator as a local process").Done(err)
		}
	}
}

// restartDelay is the pause before a crashed local operator is started again.
const restartDelay = 5 * time.Second

// exited is the current process's exit channel, or nil (blocks forever) when none runs.
func (r *OperatorRunner) exited() <-chan struct{} {
	if r.current == nil {
		return nil
	}
	return r.current.Exited()
}

func (r *OperatorRunner) sync(ctx context.Context, d *appsv1.Deployment) error {
	if d == nil {
		return r.stop(ctx)
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return nil
	}
	if k := operatorKey(d.Spec.Template.Spec.Containers[0]); k == r.key && r.running() {
		return nil
	}
	op, err := operatorSpec(ctx, d, r.Dir, r.Kubeconfig)
	if err != nil {
		return err
	}
	step := r.Progress.Begin("Running the operator image's binary as a local process (its Deployment sits on a kwok node)")
	if err := r.stop(ctx); err != nil {
		return step.Done(err)
	}
	p, err := r.Start(op.Spec)
	if err != nil {
		return step.Done(err)
	}
	r.current, r.key = p, op.Key
	step.Status("pid %d, log %s", p.Pid(), p.LogPath)
	return step.Done(nil)
}

func (r *OperatorRunner) running() bool {
	if r.current == nil {
		return false
	}
	select {
	case <-r.current.Exited():
		return false
	default:
		return true
	}
}

func (r *OperatorRunner) stop(ctx context.Context) error {
	if r.current == nil {
		return nil
	}
	err := r.current.Stop(ctx)
	r.current, r.key = nil, ""
	if err != nil {
		return errors.Join(errors.New("stop the local operator"), err)
	}
	return nil
}
