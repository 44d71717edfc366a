package appdef

import (
	"errors"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

func def(name, kind string) v1alpha1.ApplicationDefinition {
	return v1alpha1.ApplicationDefinition{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       v1alpha1.ApplicationDefinitionSpec{Application: v1alpha1.ApplicationDefinitionApplication{Kind: kind}},
	}
}

func TestPick(t *testing.T) {
	items := []v1alpha1.ApplicationDefinition{
		def("vm-disk", "VMDisk"), def("http-cache", "HTTPCache"), def("zz-http-cache", "HTTPCache"), def("broken", ""),
	}
	for _, tc := range []struct {
		name, kind string
		best       *v1alpha1.ApplicationDefinition
		want       string // "" = no match
	}{
		{name: "exact kind", kind: "VMDisk", want: "vm-disk"},
		{name: "lowest name wins among duplicates", kind: "HTTPCache", want: "http-cache"},
		{name: "lower-cased kind does not match", kind: "httpcache"},
		{name: "the object name does not match", kind: "http-cache"},
		{name: "unknown kind", kind: "Postgres"},
		{name: "an earlier page's lower name is kept", kind: "HTTPCache", best: ptr(def("a-cache", "HTTPCache")), want: "a-cache"},
		{name: "an earlier page's higher name is replaced", kind: "VMDisk", best: ptr(def("zz", "VMDisk")), want: "vm-disk"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pick(tc.best, items, tc.kind)
			if tc.want == "" {
				assert.Nil(t, got)
				return
			}
			require.NotNil(t, got)
			assert.Equal(t, tc.want, got.Name)
		})
	}
}

func TestPickReturnsACopy(t *testing.T) {
	items := []v1alpha1.ApplicationDefinition{def("vm-disk", "VMDisk")}
	got := pick(nil, items, "VMDisk")
	got.Spec.Application.Kind = "Changed"
	assert.Equal(t, "VMDisk", items[0].Spec.Application.Kind)
}

func TestNotFoundError(t *testing.T) {
	err := fmt.Errorf("render form: %w", &NotFoundError{Kind: "HTTPCache"})
	assert.True(t, errors.Is(err, ErrNotFound))
	var nf *NotFoundError
	require.ErrorAs(t, err, &nf)
	assert.Equal(t, "HTTPCache", nf.Kind)
	assert.EqualError(t, err, `render form: no ApplicationDefinition has spec.application.kind "HTTPCache" in applicationdefinitions.cozystack.io/v1alpha1`)
	assert.False(t, errors.Is(errors.New("list failed"), ErrNotFound))
}

func ptr[T any](v T) *T { return &v }
