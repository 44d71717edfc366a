package app

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func fastRetries(t *testing.T) {
	t.Helper()
	first, most := retryFirst, retryMax
	t.Cleanup(func() { retryFirst, retryMax = first, most })
	retryFirst, retryMax = time.Millisecond, 4*time.Millisecond
}

var ociRepos = schema.GroupResource{Group: "source.toolkit.fluxcd.io", Resource: "ocirepositories"}

// A bootstrap phase is tried again while the API server is too busy to answer, and ends at once
// on an answer that waiting will not change.
func TestWithRetry(t *testing.T) {
	fastRetries(t)
	busy := []error{
		apierrors.NewServerTimeout(ociRepos, "patch", 1), // "the server was unable to return a response in the time allotted"
		apierrors.NewTimeoutError("request timed out", 1),
		apierrors.NewTooManyRequests("slow down", 1),
		apierrors.NewServiceUnavailable("starting"),
		apierrors.NewInternalError(errors.New("etcdserver: request timed out")),
		fmt.Errorf("dial tcp 10.96.0.1:443: %w", syscall.ECONNREFUSED),
	}
	for _, e := range busy {
		t.Run(e.Error(), func(t *testing.T) {
			calls := 0
			err := withRetry(t.Context(), time.Minute, logr.Discard(), "apply the platform source", func(context.Context) error {
				if calls++; calls < 3 {
					return e
				}
				return nil
			})
			require.NoError(t, err)
			assert.Equal(t, 3, calls)
		})
	}

	calls := 0
	forbidden := apierrors.NewForbidden(ociRepos, "cozystack-platform", errors.New("no RBAC"))
	err := withRetry(t.Context(), time.Minute, logr.Discard(), "apply the platform source", func(context.Context) error {
		calls++
		return forbidden
	})
	require.ErrorIs(t, err, forbidden)
	assert.Equal(t, 1, calls, "an answer is not tried again")

	err = withRetry(t.Context(), 50*time.Millisecond, logr.Discard(), "install Flux", func(context.Context) error {
		return apierrors.NewServiceUnavailable("starting")
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "install Flux", "a phase that never got an answer says which, within its bound")
}
