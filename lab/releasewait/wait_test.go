package releasewait

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/rest"
)

func TestWaitRejectsABadSelector(t *testing.T) {
	_, err := Wait(t.Context(), &rest.Config{Host: "https://127.0.0.1:1"}, Options{LabelSelector: "a in (b"})
	require.ErrorContains(t, err, `parse label selector "a in (b" for HelmReleases`)
}
