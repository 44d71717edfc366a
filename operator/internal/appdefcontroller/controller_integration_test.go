//go:build integration

package appdefcontroller

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

func TestBurstOfChangesIsOnePatch(t *testing.T) {
	e := newEnv(t)
	e.createDeployment()
	e.createDefinitions("alpha", "beta", "gamma")
	r := e.start()

	r.settle(t, 3) // the initial list is a change like any other
	first := e.waitHash(e.wantHash())
	assert.Equal(t, patched, r.waitOutcome(t, 3).action)

	// Five changes within the window (schema edits, a deletion, a creation), each one seen and
	// held back by the controller before the next.
	before := r.changes.changes()
	for i, change := range []func(){
		func() { e.setSchema("alpha", `{"type":"object"}`) },
		func() { e.setSchema("beta", `{"type":"object"}`) },
		func() { e.setSchema("alpha", `{"type":"object","title":"Alpha"}`) },
		func() {
			require.NoError(t, e.c.Delete(e.ctx, &v1alpha1.ApplicationDefinition{ObjectMeta: newDefinition("gamma", "").ObjectMeta}))
		},
		func() { e.createDefinitions("delta") },
	} {
		change()
		r.waitDeferred(t, before+uint64(i)+1)
	}
	want := e.wantHash()
	require.NotEqual(t, configHash(first), want)

	r.settle(t, before+5)
	final := e.waitHash(want)
	assert.Equal(t, first.Generation+1, final.Generation, "one write for the whole burst")
	assert.Equal(t, map[string]string{"app": DefaultDeploymentName}, final.Spec.Template.Labels, "the patch touched only the annotation")
}

func TestUnchangedSetIsNotWritten(t *testing.T) {
	e := newEnv(t)
	e.createDeployment()
	e.createDefinitions("alpha", "beta")
	r := e.start()
	r.settle(t, 2)
	written := e.waitHash(e.wantHash())

	t.Run("a change undone within the window", func(t *testing.T) {
		before := r.changes.changes()
		e.setSchema("beta", `{"type":"object"}`)
		r.waitDeferred(t, before+1)
		e.setSchema("beta", "{}")
		r.settle(t, before+2)
		o := r.waitOutcome(t, before+2)
		assert.Equal(t, hashUnchanged, o.action)
		assert.Equal(t, written.ResourceVersion, e.deployment().ResourceVersion, "no write")
	})

	t.Run("a restarted controller", func(t *testing.T) {
		r.stop()
		again := e.start()
		again.settle(t, 2)
		o := again.waitOutcome(t, 2)
		assert.Equal(t, hashUnchanged, o.action)
		assert.Equal(t, written.ResourceVersion, e.deployment().ResourceVersion, "no write")
		r = again
	})

	t.Run("a hash overwritten by someone else is restored", func(t *testing.T) {
		d := e.deployment()
		patch := client.MergeFrom(d.DeepCopy())
		d.Spec.Template.Annotations[v1alpha1.AnnotationConfigHash] = "someone-else"
		require.NoError(t, e.c.Patch(e.ctx, d, patch))
		e.waitHash(configHash(written))
	})
}

func TestDeploymentCreatedLaterGetsTheHash(t *testing.T) {
	e := newEnv(t)
	e.createDefinitions("alpha")
	r := e.start()
	r.settle(t, 1)
	assert.Equal(t, deploymentMissing, r.waitOutcome(t, 1).action)

	// No definition changes from here on: the Deployment's own creation must be enough.
	e.createDeployment()
	e.waitHash(e.wantHash())

	t.Run("and again when it is recreated", func(t *testing.T) {
		require.NoError(t, e.c.Delete(e.ctx, e.deployment()))
		e.createDeployment()
		e.waitHash(e.wantHash())
	})

	t.Run("the last definition deleted restarts too", func(t *testing.T) {
		before := r.changes.changes()
		require.NoError(t, e.c.Delete(e.ctx, &v1alpha1.ApplicationDefinition{ObjectMeta: newDefinition("alpha", "").ObjectMeta}))
		r.settle(t, before+1)
		e.waitHash(e.wantHash())
	})
}
