package sandbox

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/cozylab/cozylab/internal/progress"
)

// pullFailures are the waiting reasons of a container that will not start without a change.
var pullFailures = map[string]string{
	"ErrImagePull":               "the node cannot pull the image: is SANDBOX_REGISTRY reachable from the parent cluster's nodes (and allowed over plain HTTP if it is one)?",
	"ImagePullBackOff":           "the node cannot pull the image: is SANDBOX_REGISTRY reachable from the parent cluster's nodes (and allowed over plain HTTP if it is one)?",
	"InvalidImageName":           "the image reference is invalid: check SANDBOX_REGISTRY",
	"CreateContainerConfigError": "the container's configuration is refused",
	"CreateContainerError":       "the container runtime cannot create the container",
	"RunContainerError":          "the container runtime cannot start the container",
}

// waitReady waits until the pod is Ready (its lab up, its proxy listening), showing the in-pod
// lab's last output line. It fails as soon as the pod cannot get there — it cannot be
// scheduled, its volume does not bind, its image does not pull, its container fails — saying
// which and what to change; else after Options.Ready.
func (s *Sandbox) waitReady(ctx context.Context, step progress.Step) error {
	ctx, cancel := context.WithTimeout(ctx, s.o.Ready)
	defer cancel()
	pods := s.cs.CoreV1().Pods(s.o.Namespace)
	restarts := int32(-1) // the container's restarts when the wait began
	for {
		pod, err := pods.Get(ctx, s.Name(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("pod %s/%s was deleted while it started", s.o.Namespace, s.Name())
		}
		if err == nil {
			done, err := s.diagnose(ctx, pod, &restarts, step)
			if done || err != nil {
				return err
			}
		} else if ctx.Err() == nil {
			step.Status("reading pod %s: %v", s.Name(), err)
		}
		select {
		case <-ctx.Done():
			if errors.Is(context.Cause(ctx), context.DeadlineExceeded) {
				return fmt.Errorf("the lab in pod %s/%s is not up after %s; its last output:\n%s", s.o.Namespace, s.Name(), s.o.Ready, s.tail(context.Background(), 20, false))
			}
			return ctx.Err()
		case <-time.After(time.Second):
		}
	}
}

// diagnose reads one state of the pod: done when Ready, an error when it cannot get there (a
// failed run of the in-pod lab since the wait began counts).
func (s *Sandbox) diagnose(ctx context.Context, pod *corev1.Pod, restarts *int32, step progress.Step) (bool, error) {
	where := fmt.Sprintf("pod %s/%s", s.o.Namespace, s.Name())
	for _, c := range pod.Status.Conditions {
		switch {
		case c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue:
			return true, nil
		case c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable:
			if strings.Contains(c.Message, "PersistentVolumeClaim") {
				return false, s.volumeProblem(ctx, step)
			}
			return false, fmt.Errorf("%s cannot be scheduled: %s — lower SANDBOX_CPU (%s) or SANDBOX_MEMORY (%s), or change SANDBOX_NODE_SELECTOR / SANDBOX_TOLERATIONS",
				where, c.Message, s.o.CPU, s.o.Memory)
		}
	}
	if pod.Status.Phase == corev1.PodPending && pod.Spec.NodeName == "" {
		step.Status("pod %s is waiting to be scheduled", s.Name())
		return false, s.volumeProblem(ctx, step)
	}
	for _, cs := range pod.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil {
			if hint, bad := pullFailures[w.Reason]; bad {
				return false, fmt.Errorf("%s on node %s: %s: %s — %s", where, pod.Spec.NodeName, w.Reason, w.Message, hint)
			}
			if w.Reason == "CrashLoopBackOff" {
				return false, fmt.Errorf("%s: the in-pod lab keeps failing (%s); its last output:\n%s", where, w.Message, s.tail(ctx, 20, true))
			}
			step.Status("pod %s on node %s: %s", s.Name(), pod.Spec.NodeName, strings.TrimSpace(w.Reason+" "+w.Message))
			return false, nil
		}
		if *restarts < 0 {
			*restarts = cs.RestartCount
		}
		if t := cs.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 && cs.RestartCount > *restarts {
			return false, fmt.Errorf("%s: the in-pod lab failed (exit code %d) and restarted; its last output before that:\n%s", where, t.ExitCode, s.tail(ctx, 20, true))
		}
		if cs.State.Running != nil {
			if line := s.tail(ctx, 1, false); line != "" {
				step.Status("in the pod: %s", line)
			}
		}
	}
	return false, nil
}

// volumeProblem returns an error when the lab's volume cannot bind (a Warning event on the
// claim), nil while it may still bind.
func (s *Sandbox) volumeProblem(ctx context.Context, step progress.Step) error {
	pvc, err := s.cs.CoreV1().PersistentVolumeClaims(s.o.Namespace).Get(ctx, s.Name(), metav1.GetOptions{})
	if err != nil || pvc.Status.Phase == corev1.ClaimBound {
		return nil
	}
	step.Status("waiting for the lab's volume %s to bind", s.Name())
	if err := s.noVolumeFor(ctx, pvc); err != nil {
		return err
	}
	events, err := s.cs.CoreV1().Events(s.o.Namespace).List(ctx, metav1.ListOptions{FieldSelector: fields.AndSelectors(
		fields.OneTermEqualSelector("involvedObject.kind", "PersistentVolumeClaim"),
		fields.OneTermEqualSelector("involvedObject.name", s.Name())).String()})
	if err != nil {
		return nil
	}
	for _, e := range events.Items {
		if e.Type == corev1.EventTypeWarning && e.InvolvedObject.UID == pvc.UID {
			return fmt.Errorf("the lab's volume %s/%s does not bind: %s: %s — set SANDBOX_STORAGE_CLASS to a class that provisions volumes (or create a PersistentVolume for it)%s",
				s.o.Namespace, s.Name(), e.Reason, e.Message, s.classes(ctx))
		}
	}
	return nil
}

// tail is the last n lines the lab container printed (of its previous run when previous).
func (s *Sandbox) tail(ctx context.Context, n int64, previous bool) string {
	raw, err := s.cs.CoreV1().Pods(s.o.Namespace).GetLogs(s.Name(), &corev1.PodLogOptions{Container: container, TailLines: &n, Previous: previous}).DoRaw(ctx)
	if err != nil {
		return ""
	}
	return strings.TrimRight(string(raw), "\n")
}

// noProvisioner is the provisioner of classes whose volumes an administrator makes by hand.
const noProvisioner = "kubernetes.io/no-provisioner"

// noVolumeFor fails when the claim's class provisions nothing and no available
// PersistentVolume of that class is large enough: nothing will ever bind it.
func (s *Sandbox) noVolumeFor(ctx context.Context, pvc *corev1.PersistentVolumeClaim) error {
	if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName == "" {
		return nil
	}
	class, err := s.cs.StorageV1().StorageClasses().Get(ctx, *pvc.Spec.StorageClassName, metav1.GetOptions{})
	if err != nil || class.Provisioner != noProvisioner {
		return nil
	}
	pvs, err := s.cs.CoreV1().PersistentVolumes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil
	}
	want := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	for _, pv := range pvs.Items {
		got := pv.Spec.Capacity[corev1.ResourceStorage]
		if pv.Spec.StorageClassName == class.Name && got.Cmp(want) >= 0 &&
			(pv.Status.Phase == corev1.VolumeAvailable || (pv.Spec.ClaimRef != nil && pv.Spec.ClaimRef.UID == pvc.UID)) {
			return nil
		}
	}
	return fmt.Errorf("the lab's volume %s/%s cannot bind: StorageClass %s provisions nothing (%s) and no available PersistentVolume of that class holds %s — create one, or set SANDBOX_STORAGE_CLASS to a class with a provisioner",
		s.o.Namespace, s.Name(), class.Name, noProvisioner, want.String())
}
