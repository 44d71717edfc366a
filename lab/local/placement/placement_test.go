package placement

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/cozylab/cozylab/lab/realnode"
)

func hasOnly(images ...string) HasImage {
	return func(_ context.Context, img string) (bool, error) {
		for _, i := range images {
			if i == img {
				return true, nil
			}
		}
		return false, nil
	}
}

func TestDecide(t *testing.T) {
	pod := func(mut func(*corev1.Pod)) *corev1.Pod {
		p := &corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Image: "ghcr.io/a/init:1"}},
			Containers: []corev1.Container{{Image: "ghcr.io/a/app:1"}}}}
		if mut != nil {
			mut(p)
		}
		return p
	}
	has := hasOnly("ghcr.io/a/init:1", "ghcr.io/a/app:1")
	real, why, err := Decide(t.Context(), pod(nil), has)
	require.NoError(t, err)
	assert.True(t, real, why)

	real, why, err = Decide(t.Context(), pod(nil), hasOnly("ghcr.io/a/app:1"))
	require.NoError(t, err)
	assert.False(t, real)
	assert.Equal(t, "the lab has no image ghcr.io/a/init:1", why, "an init container's image counts too")

	real, why, err = Decide(t.Context(), pod(func(p *corev1.Pod) { p.Spec.NodeSelector = map[string]string{"disk": "ssd"} }), has)
	require.NoError(t, err)
	assert.False(t, real, "a pod that chose its nodes keeps its choice")
	assert.Equal(t, "the pod chose its nodes", why)
}

// The webhook answers an AdmissionReview with a JSON patch that pins the pod and records why.
func TestHandlerPatches(t *testing.T) {
	pod := corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Image: "ghcr.io/a/app:1"}},
		Tolerations: []corev1.Toleration{{Key: "existing", Operator: corev1.TolerationOpExists}}}}
	raw, err := json.Marshal(pod)
	require.NoError(t, err)
	review := admissionv1.AdmissionReview{Request: &admissionv1.AdmissionRequest{UID: "u1", Object: runtime.RawExtension{Raw: raw}}}
	body, err := json.Marshal(review)
	require.NoError(t, err)
	rec := httptest.NewRecorder()
	Handler(hasOnly("ghcr.io/a/app:1")).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/place", bytes.NewReader(body)))
	require.Equal(t, http.StatusOK, rec.Code)
	var out admissionv1.AdmissionReview
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	require.NotNil(t, out.Response)
	assert.True(t, out.Response.Allowed)
	assert.Equal(t, "u1", string(out.Response.UID))
	var ops []struct {
		Op, Path string
		Value    json.RawMessage
	}
	require.NoError(t, json.Unmarshal(out.Response.Patch, &ops))
	got := map[string]string{}
	for _, o := range ops {
		got[o.Path] = string(o.Value)
	}
	assert.JSONEq(t, `{"`+realnode.RealNodeLabel+`":"true"}`, got["/spec/nodeSelector"])
	assert.Contains(t, got["/spec/tolerations"], `"key":"existing"`, "the pod's own tolerations stay")
	assert.Contains(t, got["/spec/tolerations"], realnode.RealNodeLabel)
	assert.Contains(t, got["/metadata/annotations"], "real node node1: the lab has every image")

	rec = httptest.NewRecorder()
	Handler(hasOnly()).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/place", bytes.NewReader(body)))
	require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &out))
	require.NoError(t, json.Unmarshal(out.Response.Patch, &ops))
	require.Len(t, ops, 1, "a pod the real node cannot run is only annotated")
	assert.Contains(t, string(ops[0].Value), "simulated: the lab has no image ghcr.io/a/app:1")

	rec = httptest.NewRecorder()
	Handler(hasOnly()).ServeHTTP(rec, httptest.NewRequest(http.MethodPost, "/place", bytes.NewReader([]byte("{}"))))
	assert.Equal(t, http.StatusBadRequest, rec.Code)
}
