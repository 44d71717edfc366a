// Package placement is the one rule that sends a local lab's pods to the real node or to the
// simulated ones: a mutating admission webhook, served by the lab daemon, that pins a new pod to
// the real node (realnode.Placement: its node selector and toleration) when the lab registry
// has every image the pod runs, and leaves it alone otherwise — the scheduler then puts it on a
// kwok node, where it is simulated. A pod that already chose its nodes (a node name, a node
// selector or affinity of its own) is left alone too.
//
// The webhook's failurePolicy is Ignore: while the daemon is down pods go to the simulated
// nodes rather than not being created at all.
package placement

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/cozylab/cozylab/lab/realnode"
)

// Annotation records the rule's decision on each pod it saw.
const Annotation = "cozylab.io/placement"

// HasImage reports whether the lab can run image (its registry has it under the upstream name).
type HasImage func(ctx context.Context, image string) (bool, error)

// Decide says where pod goes: "real" (pinned to the real node) or "simulated", and why.
func Decide(ctx context.Context, pod *corev1.Pod, has HasImage) (real bool, why string, err error) {
	if pod.Spec.NodeName != "" || len(pod.Spec.NodeSelector) > 0 || pod.Spec.Affinity != nil && pod.Spec.Affinity.NodeAffinity != nil {
		return false, "the pod chose its nodes", nil
	}
	var images []string
	for _, c := range append(slices.Clone(pod.Spec.InitContainers), pod.Spec.Containers...) {
		images = append(images, c.Image)
	}
	for _, img := range images {
		ok, err := has(ctx, img)
		if err != nil {
			return false, "", fmt.Errorf("look up image %s in the lab registry: %w", img, err)
		}
		if !ok {
			return false, "the lab has no image " + img, nil
		}
	}
	return true, "the lab has every image", nil
}

// Handler serves the webhook: AdmissionReview v1 in, a JSON patch out.
func Handler(has HasImage) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var review admissionv1.AdmissionReview
		body, err := io.ReadAll(io.LimitReader(r.Body, 4<<20))
		if err == nil {
			err = json.Unmarshal(body, &review)
		}
		if err != nil || review.Request == nil {
			http.Error(w, "want an AdmissionReview v1 with a request", http.StatusBadRequest)
			return
		}
		resp := &admissionv1.AdmissionResponse{UID: review.Request.UID, Allowed: true}
		var pod corev1.Pod
		if err := json.Unmarshal(review.Request.Object.Raw, &pod); err == nil {
			if patch, err := patchFor(r.Context(), &pod, has); err == nil && patch != nil {
				pt := admissionv1.PatchTypeJSONPatch
				resp.Patch, resp.PatchType = patch, &pt
			} else if err != nil {
				resp.Warnings = []string{"cozylab placement: " + err.Error() + "; the pod goes to a simulated node"}
			}
		}
		review.Response, review.Request = resp, nil
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(review)
	})
}

// patchFor is the JSON patch that records the decision and, for the real node, pins the pod.
func patchFor(ctx context.Context, pod *corev1.Pod, has HasImage) ([]byte, error) {
	real, why, err := Decide(ctx, pod, has)
	if err != nil {
		return nil, err
	}
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value any    `json:"value"`
	}
	decision := "simulated: " + why
	var ops []op
	if real {
		decision = "real node " + realnode.NodeName + ": " + why
		pinned := pod.Spec.DeepCopy()
		realnode.Placement(pinned)
		ops = append(ops, op{"add", "/spec/nodeSelector", pinned.NodeSelector}, op{"add", "/spec/tolerations", pinned.Tolerations})
	}
	ann := map[string]string{}
	for k, v := range pod.Annotations {
		ann[k] = v
	}
	ann[Annotation] = decision
	ops = append(ops, op{"add", "/metadata/annotations", ann})
	return json.Marshal(ops)
}
