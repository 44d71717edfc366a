package migrate

import (
	"context"
	"fmt"
	"sort"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Target is the platform version the registered migrations lead to: one past the highest
// migration number. Fresh installs are stamped with it. Raise it with every new migration (a
// unit test keeps the two consistent).
const Target = 3

// FieldOwner is the field manager of every write the runner and the migrations make, so
// managedFields show which changes came from a migration.
const FieldOwner = "cozystack-migrate"

// Migration moves the platform from version Number to Number+1.
type Migration struct {
	// Number is the version this migration upgrades from.
	Number int
	// Description says in one line what the migration changes, for progress output.
	Description string
	// Run does the work. It must be idempotent: a failure before the version is stamped
	// runs it again on the next attempt.
	Run func(ctx context.Context, c client.Client) error
}

// String is the migration's progress line, e.g. "1 → 2: label ...".
func (m Migration) String() string {
	return fmt.Sprintf("%d → %d: %s", m.Number, m.Number+1, m.Description)
}

// All lists the platform's migrations in order; namespace is the platform namespace
// (cozy-system), which holds cozystack-version. The list is the only registration: a new
// migration is appended here and Target raised by one.
func All(namespace string) []Migration {
	return []Migration{
		{
			Number:      1,
			Description: "label the platform namespace and the cozystack-version ConfigMap " + labelNoDeleteTrue,
			Run:         protectPlatformObjects(namespace),
		},
		{
			Number:      2,
			Description: "rename HelmRelease annotation " + legacyValuesFilesAnnotation + " to " + v1alpha1.AnnotationValuesFiles,
			Run:         renameValuesFilesAnnotation,
		},
	}
}

// index maps each migration by number, refusing duplicates and migrations that cannot run.
func index(ms []Migration) (map[int]Migration, error) {
	byNumber := make(map[int]Migration, len(ms))
	for _, m := range ms {
		if m.Run == nil {
			return nil, fmt.Errorf("register migration %d: it has no Run function", m.Number)
		}
		if _, dup := byNumber[m.Number]; dup {
			return nil, fmt.Errorf("register migration %d: the number is registered twice", m.Number)
		}
		byNumber[m.Number] = m
	}
	return byNumber, nil
}

// checkSequence reports whether ms is exactly migrations 1..target-1, each described, which is
// what a release must ship: any gap would stop every upgrade crossing it.
func checkSequence(ms []Migration, target int) error {
	byNumber, err := index(ms)
	if err != nil {
		return err
	}
	numbers := make([]int, 0, len(byNumber))
	for n, m := range byNumber {
		if m.Description == "" {
			return fmt.Errorf("register migration %d: it has no description", n)
		}
		numbers = append(numbers, n)
	}
	sort.Ints(numbers)
	for i, n := range numbers {
		if n != i+1 {
			return fmt.Errorf("check migrations: expected migration %d, found %d (numbers must run 1..K without gaps)", i+1, n)
		}
	}
	if target != len(numbers)+1 {
		return fmt.Errorf("check migrations: Target is %d but the highest migration is %d (Target must be %d)", target, len(numbers), len(numbers)+1)
	}
	return nil
}

// plan returns the migrations current … target-1 in order, or an error naming the first
// version without a migration, before anything has run.
func plan(byNumber map[int]Migration, current, target int) ([]Migration, error) {
	steps := make([]Migration, 0, target-current)
	for n := current; n < target; n++ {
		m, ok := byNumber[n]
		if !ok {
			return nil, fmt.Errorf("no migration %d registered: refusing to advance from version %d to %d past a missing migration", n, current, target)
		}
		steps = append(steps, m)
	}
	return steps, nil
}
