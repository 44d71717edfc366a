// Package webhooks lets a local lab install charts whose admission webhooks are served by pods
// that only kwok simulates: no container answers, so with failurePolicy Fail every object the
// webhook intercepts is refused and the release fails for a reason that has nothing to do with
// the chart. With LAB_SIMULATED_WEBHOOKS=ignore the lab runs this controller: it sets
// failurePolicy Ignore on each webhook whose Service has endpoints and all of them on simulated
// nodes, marks the configuration with an annotation naming the webhooks, and reports each
// change — never silently. A webhook with a real endpoint, or none yet, is left as it is.
package webhooks

import (
	"context"
	"fmt"
	"slices"
	"strings"

	admissionv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// Annotation lists, on a webhook configuration, the webhooks the lab set to failurePolicy
// Ignore because their Service has only simulated endpoints.
const Annotation = "cozylab.io/simulated-webhooks-ignored"

// SimulatedNodeAnnotation marks the nodes kwok simulates (the local lab's srv1-3).
const SimulatedNodeAnnotation = "kwok.x-k8s.io/node"

// Kinds of webhook configuration.
const (
	Validating = "ValidatingWebhookConfiguration"
	Mutating   = "MutatingWebhookConfiguration"
)

// Relaxer is the controller. Report hears each configuration it changed, with the webhooks.
type Relaxer struct {
	Client client.Client
	Report func(kind, name string, webhooks []string)
}

// SetupWithManager watches both kinds of webhook configuration, and EndpointSlices (a webhook's
// endpoints appear after its configuration).
func (r *Relaxer) SetupWithManager(mgr ctrl.Manager) error {
	for _, add := range []func(*runtime.Scheme) error{admissionv1.AddToScheme, discoveryv1.AddToScheme, corev1.AddToScheme} {
		if err := add(mgr.GetScheme()); err != nil {
			return fmt.Errorf("register the webhook controller's types: %w", err)
		}
	}
	all := handler.EnqueueRequestsFromMapFunc(func(ctx context.Context, _ client.Object) []reconcile.Request {
		return r.everyConfiguration(ctx)
	})
	return ctrl.NewControllerManagedBy(mgr).Named("simulated-webhooks").
		For(&admissionv1.ValidatingWebhookConfiguration{}).
		Watches(&admissionv1.MutatingWebhookConfiguration{}, handler.EnqueueRequestsFromMapFunc(
			func(_ context.Context, o client.Object) []reconcile.Request {
				return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: Mutating, Name: o.GetName()}}}
			})).
		Watches(&discoveryv1.EndpointSlice{}, all).
		Complete(r)
}

// everyConfiguration enqueues every webhook configuration; the request's namespace carries the
// kind (configurations are cluster-scoped), empty for validating ones.
func (r *Relaxer) everyConfiguration(ctx context.Context) []reconcile.Request {
	var out []reconcile.Request
	var vs admissionv1.ValidatingWebhookConfigurationList
	if err := r.Client.List(ctx, &vs); err == nil {
		for _, v := range vs.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Name: v.Name}})
		}
	}
	var ms admissionv1.MutatingWebhookConfigurationList
	if err := r.Client.List(ctx, &ms); err == nil {
		for _, m := range ms.Items {
			out = append(out, reconcile.Request{NamespacedName: types.NamespacedName{Namespace: Mutating, Name: m.Name}})
		}
	}
	return out
}

// Reconcile relaxes the webhooks of one configuration that only simulated pods serve.
func (r *Relaxer) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	kind := Validating
	var obj client.Object = &admissionv1.ValidatingWebhookConfiguration{}
	if req.Namespace == Mutating {
		kind, obj = Mutating, &admissionv1.MutatingWebhookConfiguration{}
	}
	if err := r.Client.Get(ctx, types.NamespacedName{Name: req.Name}, obj); err != nil {
		return reconcile.Result{}, client.IgnoreNotFound(err)
	}
	var relaxed []string
	for _, w := range webhooksOf(obj) {
		if w.service == nil || *w.policy == admissionv1.Ignore {
			continue
		}
		simulated, err := r.onlySimulated(ctx, w.service.Namespace, w.service.Name)
		if err != nil {
			return reconcile.Result{}, err
		}
		if simulated {
			*w.policy = admissionv1.Ignore
			relaxed = append(relaxed, w.name)
		}
	}
	if len(relaxed) == 0 {
		return reconcile.Result{}, nil
	}
	ann := obj.GetAnnotations()
	if ann == nil {
		ann = map[string]string{}
	}
	names := relaxed
	if prior := ann[Annotation]; prior != "" {
		names = append(strings.Split(prior, ","), relaxed...)
	}
	slices.Sort(names)
	ann[Annotation] = strings.Join(slices.Compact(names), ",")
	obj.SetAnnotations(ann)
	if err := r.Client.Update(ctx, obj); err != nil {
		if apierrors.IsConflict(err) {
			return reconcile.Result{Requeue: true}, nil
		}
		return reconcile.Result{}, fmt.Errorf("set failurePolicy Ignore on %s %s: %w", kind, req.Name, err)
	}
	if r.Report != nil {
		r.Report(kind, req.Name, relaxed)
	}
	return reconcile.Result{}, nil
}

// onlySimulated reports whether the Service has ready endpoints and every one is on a
// simulated node.
func (r *Relaxer) onlySimulated(ctx context.Context, namespace, service string) (bool, error) {
	var eps discoveryv1.EndpointSliceList
	if err := r.Client.List(ctx, &eps, client.InNamespace(namespace),
		client.MatchingLabels{discoveryv1.LabelServiceName: service}); err != nil {
		return false, fmt.Errorf("list endpoints of Service %s/%s: %w", namespace, service, err)
	}
	seen := 0
	for _, s := range eps.Items {
		for _, e := range s.Endpoints {
			if e.NodeName == nil {
				return false, nil // not placed on a node: cannot tell, leave it
			}
			var n corev1.Node
			if err := r.Client.Get(ctx, types.NamespacedName{Name: *e.NodeName}, &n); err != nil {
				return false, client.IgnoreNotFound(err)
			}
			if _, simulated := n.Annotations[SimulatedNodeAnnotation]; !simulated {
				return false, nil
			}
			seen++
		}
	}
	return seen > 0, nil
}

// webhook is one webhook of a configuration, whatever its kind: its name, its service, and its
// policy in the object (set through the pointer).
type webhook struct {
	name    string
	service *admissionv1.ServiceReference
	policy  *admissionv1.FailurePolicyType
}

func webhooksOf(obj client.Object) []webhook {
	var out []webhook
	add := func(name string, cc admissionv1.WebhookClientConfig, policy **admissionv1.FailurePolicyType) {
		if *policy == nil {
			*policy = new(admissionv1.FailurePolicyType)
			**policy = admissionv1.Fail // the API's default
		}
		out = append(out, webhook{name: name, service: cc.Service, policy: *policy})
	}
	switch c := obj.(type) {
	case *admissionv1.ValidatingWebhookConfiguration:
		for i := range c.Webhooks {
			add(c.Webhooks[i].Name, c.Webhooks[i].ClientConfig, &c.Webhooks[i].FailurePolicy)
		}
	case *admissionv1.MutatingWebhookConfiguration:
		for i := range c.Webhooks {
			add(c.Webhooks[i].Name, c.Webhooks[i].ClientConfig, &c.Webhooks[i].FailurePolicy)
		}
	}
	return out
}
