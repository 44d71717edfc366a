package migrate

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestRegisteredMigrationsLeadToTarget is the release guard: the shipped migrations are
// 1..Target-1 without gaps, so no upgrade can reach a version with nothing to run.
func TestRegisteredMigrationsLeadToTarget(t *testing.T) {
	ms := All("cozy-system")
	require.NoError(t, checkSequence(ms, Target))
	for i, m := range ms {
		assert.Equal(t, i+1, m.Number, "All lists the migrations in order")
	}
}

func noop(context.Context, client.Client) error { return nil }

func numbered(ns ...int) []Migration {
	ms := make([]Migration, 0, len(ns))
	for _, n := range ns {
		ms = append(ms, Migration{Number: n, Description: "step", Run: noop})
	}
	return ms
}

func TestCheckSequence(t *testing.T) {
	for _, tc := range []struct {
		name   string
		ms     []Migration
		target int
		err    string
	}{
		{name: "contiguous", ms: numbered(1, 2, 3), target: 4},
		{name: "unordered but contiguous", ms: numbered(2, 1), target: 3},
		{name: "none", ms: nil, target: 1},
		{name: "gap", ms: numbered(1, 3), target: 4, err: "expected migration 2, found 3"},
		{name: "starts at zero", ms: numbered(0, 1), target: 2, err: "expected migration 1, found 0"},
		{name: "target too low", ms: numbered(1, 2), target: 2, err: "Target is 2 but the highest migration is 2 (Target must be 3)"},
		{name: "target too high", ms: numbered(1, 2), target: 5, err: "Target must be 3"},
		{name: "duplicate", ms: numbered(1, 1), target: 2, err: "register migration 1: the number is registered twice"},
		{name: "no description", ms: []Migration{{Number: 1, Run: noop}}, target: 2, err: "register migration 1: it has no description"},
		{name: "no run", ms: []Migration{{Number: 1, Description: "x"}}, target: 2, err: "register migration 1: it has no Run function"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkSequence(tc.ms, tc.target)
			if tc.err == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.err)
		})
	}
}

func TestPlan(t *testing.T) {
	for _, tc := range []struct {
		name            string
		ms              []Migration
		current, target int
		want            []int
		err             string
	}{
		{name: "from the start", ms: numbered(1, 2, 3), current: 1, target: 4, want: []int{1, 2, 3}},
		{name: "resume in the middle", ms: numbered(1, 2, 3), current: 3, target: 4, want: []int{3}},
		{name: "only what is needed", ms: numbered(1, 2, 3), current: 1, target: 3, want: []int{1, 2}},
		{name: "gap on the way", ms: numbered(1, 3), current: 1, target: 4,
			err: "no migration 2 registered: refusing to advance from version 1 to 4 past a missing migration"},
		{name: "below the first migration", ms: numbered(1, 2), current: 0, target: 3, err: "no migration 0 registered: refusing to advance from version 0 to 3 past a missing migration"},
		{name: "gap behind is fine", ms: numbered(3), current: 3, target: 4, want: []int{3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			byNumber, err := index(tc.ms)
			require.NoError(t, err)
			steps, err := plan(byNumber, tc.current, tc.target)
			if tc.err != "" {
				require.EqualError(t, err, tc.err)
				return
			}
			require.NoError(t, err)
			got := make([]int, 0, len(steps))
			for _, m := range steps {
				got = append(got, m.Number)
			}
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestMigrationString(t *testing.T) {
	m := Migration{Number: 7, Description: "do the thing"}
	assert.Equal(t, "7 → 8: do the thing", m.String())
}

func TestResolveOptions(t *testing.T) {
	opts, ms, err := resolve(Options{})
	require.NoError(t, err)
	assert.Equal(t, "cozy-system", opts.Namespace)
	assert.Equal(t, Target, opts.Target)
	assert.Equal(t, Discard, opts.Reporter)
	assert.Len(t, ms, Target-1)

	_, _, err = resolve(Options{Migrations: numbered(1)})
	require.EqualError(t, err, "run migrations: Options.Target must be positive when Options.Migrations is set")

	opts, ms, err = resolve(Options{Namespace: "elsewhere", Migrations: numbered(1), Target: 2})
	require.NoError(t, err)
	assert.Equal(t, "elsewhere", opts.Namespace)
	assert.Equal(t, 2, opts.Target)
	assert.Len(t, ms, 1)
}
