//go:build integration

package cozypkg

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/crds"
	"github.com/cozylab/cozylab/operator/internal/install"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

// cluster is a fresh API server with the cozystack.io CRDs, and an Env on it writing to buffers.
type cluster struct {
	c        client.WithWatch
	env      *Env
	out, err *bytes.Buffer
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	s, err := scheme.New()
	require.NoError(t, err)
	c, err := client.NewWithWatch(cptest.Config(t), client.Options{Scheme: s})
	require.NoError(t, err)
	require.NoError(t, install.CRDs(context.Background(), c, crds.FS, crds.Operator, time.Minute))
	// Established CRDs reach API discovery (which the client's REST mapper reads) a moment later.
	require.Eventually(t, func() bool {
		return c.List(context.Background(), &v1alpha1.PackageSourceList{}) == nil &&
			c.List(context.Background(), &v1alpha1.PackageList{}) == nil
	}, 10*time.Second, 50*time.Millisecond, "cozystack.io kinds served")
	cl := &cluster{c: c, out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	cl.env = &Env{Client: c, In: strings.NewReader(""), Out: cl.out, Err: cl.err}
	return cl
}

// answer makes the next prompts read input, and clears the output buffers.
func (cl *cluster) answer(input string) {
	cl.env.In = strings.NewReader(input)
	cl.out.Reset()
	cl.err.Reset()
}

func (cl *cluster) createSources(t *testing.T, sources ...v1alpha1.PackageSource) {
	t.Helper()
	for i := range sources {
		ps := sources[i].DeepCopy()
		status := ps.Status
		require.NoError(t, cl.c.Create(context.Background(), ps))
		if len(status.Conditions) > 0 {
			ps.Status = status
			require.NoError(t, cl.c.Status().Update(context.Background(), ps))
		}
	}
}

func (cl *cluster) createPackage(t *testing.T, name, variant string, conditions ...metav1.Condition) {
	t.Helper()
	pkg := &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: v1alpha1.PackageSpec{Variant: variant}}
	require.NoError(t, cl.c.Create(context.Background(), pkg))
	if len(conditions) > 0 {
		pkg.Status.Conditions = conditions
		require.NoError(t, cl.c.Status().Update(context.Background(), pkg))
	}
}

// packages returns the Packages by name.
func (cl *cluster) packages(t *testing.T) map[string]v1alpha1.Package {
	t.Helper()
	list := &v1alpha1.PackageList{}
	require.NoError(t, cl.c.List(context.Background(), list))
	m := map[string]v1alpha1.Package{}
	for _, p := range list.Items {
		m[p.Name] = p
	}
	return m
}

func condition(status metav1.ConditionStatus, message string) metav1.Condition {
	return metav1.Condition{Type: v1alpha1.ConditionReady, Status: status, Reason: "Test", Message: message,
		LastTransitionTime: metav1.Now()}
}

func TestAddCreatesDependenciesFirst(t *testing.T) {
	ctx := context.Background()
	cl := newCluster(t)
	cl.createSources(t,
		source("cozystack.app", variant("small", "cozystack.db", "cozystack.cache"), variant("ha", "cozystack.db", "cozystack.net")),
		source("cozystack.db", variant("default")),
		source("cozystack.net", variant("cilium"), variant("kubeovn")),
		source("cozystack.cache", variant("default")),
		source("cozystack.unrelated", variant("default")),
	)
	cl.createPackage(t, "cozystack.cache", "")

	// Order: cache (installed), db, net, then app. db has one variant: Enter takes it; net gets
	// a wrong answer first.
	cl.answer("\n" + "7\n2\n" + "2\n")
	require.NoError(t, cl.env.Add(ctx, Selection{Names: []string{"cozystack.app"}}))

	got := cl.packages(t)
	require.Len(t, got, 4, "cache was there; db, net and app were added; unrelated was not")
	assert.Equal(t, "default", got["cozystack.db"].Spec.Variant)
	assert.Equal(t, "kubeovn", got["cozystack.net"].Spec.Variant)
	assert.Equal(t, "ha", got["cozystack.app"].Spec.Variant)
	assert.Empty(t, got["cozystack.cache"].Spec.Variant, "an installed package is left alone")

	stderr := cl.err.String()
	assert.Contains(t, stderr, "Installing cozystack.app and its dependencies...\n\n")
	assert.Contains(t, stderr, "✓ cozystack.cache (already installed, variant: default)\n")
	assert.Contains(t, stderr, "Invalid choice. Please enter a number between 1 and 2.\n")
	assert.Contains(t, stderr, "✓ Added Package cozystack.db\n✓ Added Package cozystack.net\n✓ Added Package cozystack.app\n")
	assert.Empty(t, cl.out.String(), "progress and prompts go to stderr only")

	// The API server saw the creates in that order too.
	rv := func(name string) int {
		n, err := strconv.Atoi(got[name].ResourceVersion)
		require.NoError(t, err)
		return n
	}
	assert.Less(t, rv("cozystack.db"), rv("cozystack.net"))
	assert.Less(t, rv("cozystack.net"), rv("cozystack.app"))
}

func TestAddFromFile(t *testing.T) {
	ctx := context.Background()
	cl := newCluster(t)
	cl.createSources(t, source("cozystack.db", variant("default"), variant("ha")))
	dir := t.TempDir()
	file := filepath.Join(dir, "db.yaml")
	require.NoError(t, os.WriteFile(file, []byte(`apiVersion: cozystack.io/v1alpha1
kind: PackageSource
metadata: {name: cozystack.db}
---
apiVersion: cozystack.io/v1alpha1
kind: Package
metadata: {name: cozystack.db}
spec:
  variant: ha
  components:
    postgres: {values: {replicas: 3}}
`), 0o644))

	cl.answer("")
	require.NoError(t, cl.env.Add(ctx, Selection{Files: []string{dir}}))
	assert.Equal(t, "✓ Added Package cozystack.db\n", cl.err.String(), "created as written, no prompt")
	pkg := cl.packages(t)["cozystack.db"]
	assert.Equal(t, "ha", pkg.Spec.Variant)
	assert.JSONEq(t, `{"replicas":3}`, string(pkg.Spec.Components["postgres"].Values.Raw))

	// Again: the create finds it there and the interactive path reports it installed.
	cl.answer("")
	require.NoError(t, cl.env.Add(ctx, Selection{Files: []string{file}}))
	assert.Contains(t, cl.err.String(), "✓ cozystack.db (already installed, variant: ha)")
}

func TestAddErrors(t *testing.T) {
	ctx := context.Background()
	cl := newCluster(t)
	cl.createSources(t,
		source("cozystack.x", variant("default", "cozystack.y")),
		source("cozystack.y", variant("default", "cozystack.x")),
		source("cozystack.z", variant("default", "cozystack.ghost")),
		source("cozystack.needs-two", variant("default", "cozystack.one")),
		source("cozystack.one", variant("a"), variant("b")),
	)
	tests := []struct {
		name  string
		names []string
		input string
		err   string
	}{
		{name: "cycle", names: []string{"cozystack.x"}, err: "order dependencies of cozystack.x: dependency cycle detected: cozystack.x, cozystack.y"},
		{name: "missing dependency", names: []string{"cozystack.z"}, err: "PackageSource cozystack.ghost not found (required by cozystack.z)"},
		{name: "missing package", names: []string{"cozystack.nope"}, err: "PackageSource cozystack.nope not found"},
		{name: "nothing named", err: "no packages specified"},
		{name: "input ends mid-way", names: []string{"cozystack.needs-two"}, input: "1\n", err: "read variant of cozystack.needs-two: input ended"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cl.answer(tt.input)
			err := cl.env.Add(ctx, Selection{Names: tt.names})
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.err)
			assert.Empty(t, cl.packages(t), "nothing is created when a package cannot be added")
		})
	}
}

func TestDeleteDependentsFirst(t *testing.T) {
	ctx := context.Background()
	cl := newCluster(t)
	cl.createSources(t,
		source("cozystack.base", variant("default")),
		source("cozystack.mid", variant("default", "cozystack.base")),
		source("cozystack.top", variant("a"), variant("b", "cozystack.mid")),
		source("cozystack.side", variant("default", "cozystack.base")),
		source("cozystack.lone", variant("default")),
	)
	for _, n := range []string{"cozystack.base", "cozystack.mid", "cozystack.top", "cozystack.lone"} {
		cl.createPackage(t, n, "")
	}
	sel := Selection{Names: []string{"cozystack.base", "cozystack.absent"}}

	cl.answer("n\n")
	require.EqualError(t, cl.env.Delete(ctx, sel), "deletion cancelled")
	assert.Len(t, cl.packages(t), 4, "nothing deleted")
	assert.Equal(t, "⚠ Package cozystack.absent is not installed, skipping\n"+
		"\nThe following packages will be deleted:\n\n"+
		"Requested packages:\n  - cozystack.base\n\n"+
		"Dependent packages (will also be deleted):\n  - cozystack.mid\n  - cozystack.top\n\n"+
		"Total: 3 package(s)\n\n"+
		"Do you want to continue? [y/N]: ", cl.err.String(),
		"top depends on mid through one of its variants only; side is not installed")

	w, err := cl.c.Watch(ctx, &v1alpha1.PackageList{})
	require.NoError(t, err)
	defer w.Stop()
	cl.answer("y\n")
	require.NoError(t, cl.env.Delete(ctx, sel))
	assert.Contains(t, cl.err.String(), "✓ Deleted Package cozystack.top\n✓ Deleted Package cozystack.mid\n✓ Deleted Package cozystack.base\n")

	var deleted []string
	timeout := time.After(10 * time.Second)
	for len(deleted) < 3 {
		select {
		case ev := <-w.ResultChan():
			if ev.Type == watch.Deleted {
				deleted = append(deleted, ev.Object.(*v1alpha1.Package).Name)
			}
		case <-timeout:
			t.Fatalf("deletions seen by a watch: %v, want 3", deleted)
		}
	}
	assert.Equal(t, []string{"cozystack.top", "cozystack.mid", "cozystack.base"}, deleted, "dependents first, as the API server saw it")
	assert.Equal(t, []string{"cozystack.lone"}, keys(cl.packages(t)))

	cl.answer("")
	require.NoError(t, cl.env.Delete(ctx, Selection{Names: []string{"cozystack.base"}}))
	assert.Equal(t, "⚠ Package cozystack.base is not installed, skipping\nNo packages found to delete\n", cl.err.String())
}

func TestDeleteEdgeCases(t *testing.T) {
	cl := newCluster(t)

	// A Package deleted by someone else between the listing and the delete is a warning.
	cl.createPackage(t, "cozystack.gone", "")
	require.NoError(t, cl.c.Delete(context.Background(), &v1alpha1.Package{ObjectMeta: metav1.ObjectMeta{Name: "cozystack.gone"}}))
	cl.answer("")
	require.NoError(t, cl.env.deleteAll(context.Background(), []string{"cozystack.gone"}))
	assert.Equal(t, "⚠ Package cozystack.gone not found, skipping\n", cl.err.String())
	err := cl.c.Get(context.Background(), client.ObjectKey{Name: "cozystack.gone"}, &v1alpha1.Package{})
	assert.True(t, apierrors.IsNotFound(err))

	cl.answer("")
	require.EqualError(t, cl.env.Delete(context.Background(), Selection{}), "no packages specified")

	// Packages depending on each other cannot be ordered: refused before asking.
	cl.createSources(t, source("cozystack.x", variant("default", "cozystack.y")), source("cozystack.y", variant("default", "cozystack.x")))
	cl.createPackage(t, "cozystack.x", "")
	cl.createPackage(t, "cozystack.y", "")
	cl.answer("y\n")
	err = cl.env.Delete(context.Background(), Selection{Names: []string{"cozystack.x"}})
	require.EqualError(t, err, "order packages for deletion: dependency cycle detected: cozystack.x, cozystack.y")
	assert.NotContains(t, cl.err.String(), "Do you want to continue", "refused before asking")
	assert.Len(t, cl.packages(t), 2)
}

func keys[V any](m map[string]V) []string { return sortedKeys(m) }

func TestListAgainstTheAPIServer(t *testing.T) {
	ctx := context.Background()
	cl := newCluster(t)
	net := source("cozystack.networking",
		withComponents(variant("cilium"), "cilium", "cilium-networkpolicy"), withComponents(variant("kubeovn"), "kubeovn"))
	net.Status.Conditions = []metav1.Condition{condition(metav1.ConditionTrue, "Artifact is ready with a rather long message that gets cut")}
	cl.createSources(t, net, source("cozystack.db", variant("default")))
	cl.createPackage(t, "cozystack.networking", "kubeovn", condition(metav1.ConditionFalse, "One or more dependencies are not ready"))

	tests := []struct {
		opts ListOptions
		want string
	}{
		{opts: ListOptions{}, want: "" +
			"NAME                   VARIANTS         READY     STATUS\n" +
			"cozystack.db           default          Unknown\n" +
			"cozystack.networking   cilium,kubeovn   True      Artifact is ready with a rather long message ...\n"},
		{opts: ListOptions{Components: true}, want: "" +
			"NAME                                          VARIANTS         READY     STATUS\n" +
			"cozystack.db                                  default          Unknown\n" +
			"cozystack.networking                          cilium,kubeovn   True      Artifact is ready with a rather long message ...\n" +
			"  cozystack.networking.cilium                 cilium\n" +
			"  cozystack.networking.cilium-networkpolicy   cilium\n" +
			"  cozystack.networking.kubeovn                kubeovn\n"},
		{opts: ListOptions{Installed: true, Components: true}, want: "" +
			"NAME                             VARIANT   READY   STATUS\n" +
			"cozystack.networking             kubeovn   False   One or more dependencies are not ready\n" +
			"  cozystack.networking.kubeovn   kubeovn\n"},
	}
	for _, tt := range tests {
		cl.answer("")
		require.NoError(t, cl.env.List(ctx, tt.opts))
		assert.Equal(t, tt.want, cl.out.String(), "%+v", tt.opts)
		assert.Empty(t, cl.err.String())
	}
}

func TestDotAgainstTheAPIServer(t *testing.T) {
	ctx := context.Background()
	cl := newCluster(t)
	cl.createSources(t, dotFixture()...)
	cl.createPackage(t, "cozystack.app", "small")
	cl.createPackage(t, "cozystack.storage", "")

	want, err := os.ReadFile(filepath.Join("testdata", "dot_components.golden"))
	require.NoError(t, err)
	cl.answer("")
	require.NoError(t, cl.env.Dot(ctx, DotOptions{Components: true}))
	assert.Equal(t, string(want), cl.out.String(), "the same drawing as the unit test's, from real objects")

	want, err = os.ReadFile(filepath.Join("testdata", "dot_installed.golden"))
	require.NoError(t, err)
	cl.answer("")
	require.NoError(t, cl.env.Dot(ctx, DotOptions{Installed: true}))
	assert.Equal(t, string(want), cl.out.String())
}
