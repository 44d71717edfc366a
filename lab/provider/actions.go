package provider

import (
	"context"
	"fmt"

	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/lab/state"
)

// Action is one named step of a lab's bring-up. A provider builds its whole list in one
// function; RunActions runs it and records each action in the lab's state as it completes.
type Action struct {
	// Name is the step's line in the output and its key in the state ("network", "seeds").
	Name string
	// Run does the work. It reports its own details on step and returns the step's outcome.
	Run func(ctx context.Context, step progress.Step) error
	// Keep, when set, marks an action whose result outlives the lab's daemon (a file, a
	// network, etcd's data): a later lab:up calls Keep instead of Run when the state says the
	// action was done, and skips it when Keep returns nil. Keep loads what the later actions
	// need (a plan, a path) and checks that the result is still there; an error makes the
	// action run again, and every later kept action with it. Actions without Keep start
	// something that lives only as long as the daemon (a process, a VM) and run on every up.
	Keep func(ctx context.Context) error
}

// Kept reports whether the action's result outlives the daemon.
func (a Action) Kept() bool { return a.Keep != nil }

// RunActions runs actions in order: a kept action recorded as done is resumed through Keep,
// every other runs. Each success is recorded in store before the next action starts, so a
// failure or a kill at any point leaves a state the next call resumes from. Once a kept
// action runs again, every later kept action runs too (its inputs may have changed).
func RunActions(ctx context.Context, store *state.Store, rep progress.Reporter, actions []Action) error {
	rerun := false
	for _, a := range actions {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s: %w", a.Name, err)
		}
		step := rep.Begin(a.Name)
		if a.Kept() && !rerun && store.Done(a.Name) {
			err := a.Keep(ctx)
			if err == nil {
				step.Skip(SkipKept)
				continue
			}
			step.Status("running again: %v", err)
		}
		if a.Kept() {
			rerun = true
			if err := store.Undo(a.Name); err != nil {
				return step.Done(err)
			}
		}
		if err := step.Done(a.Run(ctx, step)); err != nil {
			return err
		}
		if err := store.MarkDone(a.Name); err != nil {
			return err
		}
	}
	return nil
}

// SkipKept is the skip reason of an action resumed from an earlier lab:up.
const SkipKept = "kept from an earlier lab:up"
