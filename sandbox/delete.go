package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Delete removes everything the sandbox made in the parent cluster — whatever carries its
// labels, whatever an apply got to — and waits until it is gone: the pod, the lab's volume
// (kept with KeepPVC), and the namespace when the sandbox made it and nothing else is left in it.
func (s *Sandbox) Delete(ctx context.Context) error {
	step := s.o.Progress.Begin(fmt.Sprintf("Removing sandbox %s from namespace %s", s.o.Lab, s.o.Namespace))
	return step.Done(s.delete(ctx))
}

func (s *Sandbox) delete(ctx context.Context) error {
	ns := s.o.Namespace
	sel := metav1.ListOptions{LabelSelector: s.selector()}
	pods, err := s.cs.CoreV1().Pods(ns).List(ctx, sel)
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("list the sandbox's pods: %w", err)
	}
	var errs []error
	if pods != nil {
		for _, p := range pods.Items {
			if err := s.cs.CoreV1().Pods(ns).Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		}
		for _, p := range pods.Items {
			errs = append(errs, s.waitGone(ctx, "pod "+p.Name, func(ctx context.Context) error {
				_, err := s.cs.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
				return err
			}))
		}
	}
	if !s.o.KeepPVC {
		pvcs, err := s.cs.CoreV1().PersistentVolumeClaims(ns).List(ctx, sel)
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("list the sandbox's volumes: %w", err))
		} else if pvcs != nil {
			for _, c := range pvcs.Items {
				if err := s.cs.CoreV1().PersistentVolumeClaims(ns).Delete(ctx, c.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					errs = append(errs, err)
				}
				errs = append(errs, s.waitGone(ctx, "volume claim "+c.Name, func(ctx context.Context) error {
					_, err := s.cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, c.Name, metav1.GetOptions{})
					return err
				}))
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return s.deleteNamespaceIfEmpty(ctx)
}

// deleteNamespaceIfEmpty removes the namespace when the sandbox made it (its label) and no
// pod or volume claim is left in it (other sandboxes, a kept volume).
func (s *Sandbox) deleteNamespaceIfEmpty(ctx context.Context) error {
	ns, err := s.cs.CoreV1().Namespaces().Get(ctx, s.o.Namespace, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || apierrors.IsForbidden(err) {
		return nil
	} else if err != nil {
		return err
	}
	if ns.Labels[LabelManagedBy] != ManagedBy || ns.DeletionTimestamp != nil {
		return nil
	}
	pods, err := s.cs.CoreV1().Pods(s.o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	pvcs, err := s.cs.CoreV1().PersistentVolumeClaims(s.o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	if len(pods.Items) > 0 || len(pvcs.Items) > 0 {
		return nil
	}
	if err := s.cs.CoreV1().Namespaces().Delete(ctx, s.o.Namespace, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete namespace %s: %w", s.o.Namespace, err)
	}
	return s.waitGone(ctx, "namespace "+s.o.Namespace, func(ctx context.Context) error {
		_, err := s.cs.CoreV1().Namespaces().Get(ctx, s.o.Namespace, metav1.GetOptions{})
		return err
	})
}

// Status is what the parent cluster says of the sandbox.
type Status struct {
	Namespace, Pod string
	// Phase is "absent", the pod's phase, or "ready" once the in-pod lab is up.
	Phase    string
	Node     string
	Image    string
	Restarts int32
	// Volume is the lab's claim and its phase ("" when there is none).
	Volume string
	// Waiting is why the container is not running, when it is not.
	Waiting string
}

// Status reads the sandbox's pod and volume.
func (s *Sandbox) Status(ctx context.Context) (Status, error) {
	st := Status{Namespace: s.o.Namespace, Pod: s.Name(), Phase: "absent"}
	if pvc, err := s.cs.CoreV1().PersistentVolumeClaims(s.o.Namespace).Get(ctx, s.Name(), metav1.GetOptions{}); err == nil {
		st.Volume = fmt.Sprintf("%s (%s, %s)", pvc.Name, pvc.Status.Phase, storage(pvc))
	} else if !apierrors.IsNotFound(err) {
		return st, err
	}
	pod, err := s.cs.CoreV1().Pods(s.o.Namespace).Get(ctx, s.Name(), metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return st, nil
	} else if err != nil {
		return st, err
	}
	st.Phase, st.Node, st.Image = strings.ToLower(string(pod.Status.Phase)), pod.Spec.NodeName, pod.Spec.Containers[0].Image
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			st.Phase = "ready"
		}
	}
	for _, c := range pod.Status.ContainerStatuses {
		st.Restarts = c.RestartCount
		if w := c.State.Waiting; w != nil {
			st.Waiting = strings.TrimSpace(w.Reason + " " + w.Message)
		}
	}
	return st, nil
}

func storage(pvc *corev1.PersistentVolumeClaim) string {
	q := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	class := "default class"
	if pvc.Spec.StorageClassName != nil {
		class = "class " + *pvc.Spec.StorageClassName
	}
	return q.String() + ", " + class
}
