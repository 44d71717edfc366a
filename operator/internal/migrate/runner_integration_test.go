//go:build integration

package migrate

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/controlplane/cptest"
	"github.com/cozylab/cozylab/operator/internal/scheme"
)

func testClient(t *testing.T) client.WithWatch {
	t.Helper()
	c, err := client.NewWithWatch(cptest.Config(t), client.Options{Scheme: scheme.Must()})
	require.NoError(t, err)
	return c
}

func createNamespace(t *testing.T, c client.Client, name string, labels map[string]string) {
	t.Helper()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
	require.NoError(t, c.Create(context.Background(), ns))
}

// createVersion writes a version record the way an older install left it: no guard label.
func createVersion(t *testing.T, c client.Client, namespace, version string) {
	t.Helper()
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: VersionConfigMap, Labels: map[string]string{"team": "platform"}},
		Data:       map[string]string{VersionKey: version},
	}
	require.NoError(t, c.Create(context.Background(), cm))
}

func getVersion(t *testing.T, c client.Client, namespace string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{}
	require.NoError(t, c.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: VersionConfigMap}, cm))
	return cm
}

func assertStamped(t *testing.T, cm *corev1.ConfigMap, version int) {
	t.Helper()
	assert.Equal(t, strconv.Itoa(version), cm.Data[VersionKey])
	assert.Equal(t, "true", cm.Labels["platform.cozystack.io/no-delete"])
	assert.Equal(t, "keep", cm.Annotations["helm.sh/resource-policy"])
}

// recorder is a Reporter that keeps one line per event.
type recorder struct{ events []string }

func (r *recorder) Note(msg string)   { r.events = append(r.events, "note: "+msg) }
func (r *recorder) Start(m Migration) { r.events = append(r.events, fmt.Sprintf("start %d", m.Number)) }
func (r *recorder) Done(m Migration, err error) {
	if err != nil {
		r.events = append(r.events, fmt.Sprintf("fail %d", m.Number))
		return
	}
	r.events = append(r.events, fmt.Sprintf("done %d", m.Number))
}

// observer builds test migrations that record, when they run, the version stored at that
// moment, which shows the runner stamping after every step.
type observer struct {
	namespace string
	seen      []string
	failures  map[int]int // migration number → failures left before it succeeds
}

func (o *observer) migrations(numbers ...int) []Migration {
	ms := make([]Migration, 0, len(numbers))
	for _, n := range numbers {
		ms = append(ms, Migration{Number: n, Description: fmt.Sprintf("step %d", n), Run: func(ctx context.Context, c client.Client) error {
			cm := &corev1.ConfigMap{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: o.namespace, Name: VersionConfigMap}, cm); err != nil {
				return err
			}
			o.seen = append(o.seen, fmt.Sprintf("%d saw %s", n, cm.Data[VersionKey]))
			if o.failures[n] > 0 {
				o.failures[n]--
				return errors.New("boom")
			}
			return nil
		}})
	}
	return ms
}

func TestRun(t *testing.T) {
	ctx := context.Background()
	c := testClient(t)

	t.Run("fresh install stamps the target and runs nothing", func(t *testing.T) {
		createNamespace(t, c, "fresh", nil)
		o := &observer{namespace: "fresh"}
		rec := &recorder{}
		res, err := Run(ctx, c, Options{Namespace: "fresh", Migrations: o.migrations(1, 2), Target: 3, Reporter: rec})
		require.NoError(t, err)
		assert.Equal(t, Result{FreshInstall: true, To: 3}, res)
		assert.Empty(t, o.seen)
		assertStamped(t, getVersion(t, c, "fresh"), 3)
		assert.Equal(t, []string{"note: ConfigMap fresh/cozystack-version not found: fresh install, stamped version 3"}, rec.events)
	})

	t.Run("fresh install with the registered migrations stamps Target", func(t *testing.T) {
		createNamespace(t, c, "fresh-default", nil)
		res, err := Run(ctx, c, Options{Namespace: "fresh-default"})
		require.NoError(t, err)
		assert.Equal(t, Result{FreshInstall: true, To: Target}, res)
		assertStamped(t, getVersion(t, c, "fresh-default"), Target)
	})

	t.Run("upgrade stamps each step and resumes after a failure", func(t *testing.T) {
		createNamespace(t, c, "upgrade", nil)
		createVersion(t, c, "upgrade", "1")
		o := &observer{namespace: "upgrade", failures: map[int]int{2: 1}}
		ms := o.migrations(1, 2)
		rec := &recorder{}

		res, err := Run(ctx, c, Options{Namespace: "upgrade", Migrations: ms, Target: 3, Reporter: rec})
		require.EqualError(t, err, "run migration 2 → 3: step 2: boom; the platform stays at version 2 and a re-run resumes there")
		assert.Equal(t, Result{From: 1, To: 2, Applied: []int{1}}, res)
		assertStamped(t, getVersion(t, c, "upgrade"), 2)
		assert.Equal(t, []string{"1 saw 1", "2 saw 2"}, o.seen)
		assert.Equal(t, []string{"start 1", "done 1", "start 2", "fail 2"}, rec.events)

		rec.events = nil
		res, err = Run(ctx, c, Options{Namespace: "upgrade", Migrations: ms, Target: 3, Reporter: rec})
		require.NoError(t, err)
		assert.Equal(t, Result{From: 2, To: 3, Applied: []int{2}}, res)
		assert.Equal(t, []string{"1 saw 1", "2 saw 2", "2 saw 2"}, o.seen, "the re-run resumes at the failed migration")
		assert.Equal(t, []string{"start 2", "done 2"}, rec.events)
		cm := getVersion(t, c, "upgrade")
		assertStamped(t, cm, 3)
		assert.Equal(t, "platform", cm.Labels["team"], "labels set by others are kept")
		assert.Regexp(t, `^\S+ 1 → 2\n\S+ 2 → 3\n$`, cm.Data[HistoryKey], "each completed migration once in the history, the failed attempt not at all")

		res, err = Run(ctx, c, Options{Namespace: "upgrade", Migrations: ms, Target: 3})
		require.NoError(t, err)
		assert.Equal(t, Result{From: 3, To: 3}, res)
		assert.Len(t, o.seen, 3, "nothing runs once the target is reached")
	})

	for _, version := range []int{3, 9} {
		t.Run(fmt.Sprintf("version %d at or above target 3 does nothing", version), func(t *testing.T) {
			ns := fmt.Sprintf("current-%d", version)
			createNamespace(t, c, ns, nil)
			createVersion(t, c, ns, strconv.Itoa(version))
			before := getVersion(t, c, ns)
			o := &observer{namespace: ns}
			rec := &recorder{}
			res, err := Run(ctx, c, Options{Namespace: ns, Migrations: o.migrations(1, 2), Target: 3, Reporter: rec})
			require.NoError(t, err)
			assert.Equal(t, Result{From: version, To: version}, res)
			assert.Empty(t, o.seen)
			assert.Equal(t, before.ResourceVersion, getVersion(t, c, ns).ResourceVersion, "the record is not written")
			assert.Equal(t, []string{fmt.Sprintf("note: ConfigMap %s/cozystack-version is at version %d (target 3): nothing to migrate", ns, version)}, rec.events)
		})
	}

	t.Run("a missing migration refuses before anything runs", func(t *testing.T) {
		createNamespace(t, c, "gap", nil)
		createVersion(t, c, "gap", "1")
		o := &observer{namespace: "gap"}
		res, err := Run(ctx, c, Options{Namespace: "gap", Migrations: o.migrations(1, 3), Target: 4})
		require.EqualError(t, err, "no migration 2 registered: refusing to advance from version 1 to 4 past a missing migration")
		assert.Equal(t, Result{From: 1, To: 1}, res)
		assert.Empty(t, o.seen)
		assert.Equal(t, "1", getVersion(t, c, "gap").Data[VersionKey])
	})

	t.Run("a malformed version names the ConfigMap and the value", func(t *testing.T) {
		createNamespace(t, c, "malformed", nil)
		createVersion(t, c, "malformed", "1.0")
		o := &observer{namespace: "malformed"}
		_, err := Run(ctx, c, Options{Namespace: "malformed", Migrations: o.migrations(1, 2), Target: 3})
		require.EqualError(t, err, `read version from ConfigMap malformed/cozystack-version: data.version is "1.0", not a non-negative integer; set it to the platform version the cluster runs`)
		assert.Empty(t, o.seen)
	})

	t.Run("a version moved underneath the runner is not overwritten", func(t *testing.T) {
		createNamespace(t, c, "moved", nil)
		createVersion(t, c, "moved", "1")
		meddler := Migration{Number: 1, Description: "writes the version itself", Run: func(ctx context.Context, c client.Client) error {
			cm := getVersion(t, c, "moved")
			cm.Data[VersionKey] = "5"
			return c.Update(ctx, cm)
		}}
		res, err := Run(ctx, c, Options{Namespace: "moved", Migrations: []Migration{meddler}, Target: 2})
		require.ErrorIs(t, err, errVersionMoved)
		assert.EqualError(t, err, "stamp ConfigMap moved/cozystack-version version 2: the stored version moved: expected 1, found 5 (is another migration run active?)")
		assert.Equal(t, Result{From: 1, To: 1}, res)
		assert.Equal(t, "5", getVersion(t, c, "moved").Data[VersionKey])
	})
}
