//go:build integration

package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/crds"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

// TestCommandsAgainstTheAPIServer runs the binary's commands end to end: kubeconfig from the
// flag and from KUBECONFIG, prompts answered on stdin, results on stdout.
func TestCommandsAgainstTheAPIServer(t *testing.T) {
	ctx := context.Background()
	cp := cptest.Start(t)
	s, err := scheme.New()
	require.NoError(t, err)
	c, err := client.NewWithWatch(cp.RESTConfig(), client.Options{Scheme: s})
	require.NoError(t, err)
	require.NoError(t, install.CRDs(ctx, c, crds.FS, crds.Operator, time.Minute))
	require.Eventually(t, func() bool {
		return c.List(ctx, &v1alpha1.PackageSourceList{}) == nil
	}, 10*time.Second, 50*time.Millisecond, "cozystack.io kinds served")
	for _, ps := range []*v1alpha1.PackageSource{
		{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.base"}, Spec: v1alpha1.PackageSourceSpec{Variants: []v1alpha1.Variant{{Name: "default"}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.app"}, Spec: v1alpha1.PackageSourceSpec{Variants: []v1alpha1.Variant{
			{Name: "one", DependsOn: []string{"cozystack.base"}}, {Name: "two", DependsOn: []string{"cozystack.base"}},
		}}},
	} {
		require.NoError(t, c.Create(ctx, ps))
	}

	code, stdout, stderr := runCLI(t, "", "list", "--kubeconfig", cp.Kubeconfig)
	require.Equal(t, 0, code, stderr)
	assert.Equal(t, "NAME             VARIANTS   READY     STATUS\n"+
		"cozystack.app    one,two    Unknown\n"+
		"cozystack.base   default    Unknown\n", stdout)

	t.Setenv("KUBECONFIG", cp.Kubeconfig)
	code, stdout, stderr = runCLI(t, "\n2\n", "add", "cozystack.app")
	require.Equal(t, 0, code, stderr)
	assert.Empty(t, stdout)
	assert.True(t, strings.HasSuffix(stderr, "✓ Added Package cozystack.base\n✓ Added Package cozystack.app\n"), stderr)

	code, stdout, stderr = runCLI(t, "", "dot", "--installed")
	require.Equal(t, 0, code, stderr)
	assert.Contains(t, stdout, `"cozystack.app" -> "cozystack.base" [color="black"];`)

	code, _, stderr = runCLI(t, "no\n", "del", "cozystack.base")
	assert.Equal(t, 1, code)
	assert.True(t, strings.HasSuffix(stderr, "Do you want to continue? [y/N]: deletion cancelled\n"), stderr)

	code, _, stderr = runCLI(t, "yes\n", "del", "cozystack.base")
	require.Equal(t, 0, code, stderr)
	list := &v1alpha1.PackageList{}
	require.NoError(t, c.List(ctx, list))
	assert.Empty(t, list.Items)
}
