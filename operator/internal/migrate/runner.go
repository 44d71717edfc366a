package migrate

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// Options configure Run. The zero value migrates cozy-system with the registered migrations.
type Options struct {
	// Namespace holds the cozystack-version ConfigMap; empty means cozy-system.
	Namespace string
	// Migrations replaces All(Namespace), for tests and tools; Target must then be set too.
	Migrations []Migration
	// Target is the version to reach; zero means the package's Target. It must be set when
	// Migrations is.
	Target int
	// Reporter receives progress; nil discards it.
	Reporter Reporter
}

// Result says what Run found and did.
type Result struct {
	// FreshInstall is true when there was no version record and Run created it at To.
	FreshInstall bool
	// From is the version found (zero on a fresh install).
	From int
	// To is the version stored when Run returned.
	To int
	// Applied lists the numbers of the migrations that completed and were stamped, in order.
	Applied []int
}

// Run brings the platform version recorded in the cozystack-version ConfigMap to the target,
// running each migration in order and stamping its successor version as soon as it succeeds.
// On error the Result tells how far it got; re-running resumes from there.
func Run(ctx context.Context, c client.Client, opts Options) (Result, error) {
	opts, ms, err := resolve(opts)
	if err != nil {
		return Result{}, err
	}
	byNumber, err := index(ms)
	if err != nil {
		return Result{}, err
	}
	store := versionStore{c: c, key: client.ObjectKey{Namespace: opts.Namespace, Name: VersionConfigMap}}
	cm, err := store.get(ctx)
	if err != nil {
		return Result{}, err
	}
	if cm == nil {
		created, err := store.create(ctx, opts.Target)
		if err != nil {
			return Result{}, err
		}
		if created {
			opts.Reporter.Note(fmt.Sprintf("ConfigMap %s not found: fresh install, stamped version %d", store.name(), opts.Target))
			return Result{FreshInstall: true, To: opts.Target}, nil
		}
		if cm, err = store.get(ctx); err != nil {
			return Result{}, err
		}
		if cm == nil {
			return Result{}, fmt.Errorf("get ConfigMap %s: it was created and deleted again while being read", store.name())
		}
	}
	return migrate(ctx, c, store, cm, byNumber, opts)
}

// resolve fills in Options defaults and returns the migration list to use.
func resolve(opts Options) (Options, []Migration, error) {
	if opts.Namespace == "" {
		opts.Namespace = v1alpha1.SystemNamespace
	}
	if opts.Reporter == nil {
		opts.Reporter = Discard
	}
	ms := opts.Migrations
	if ms == nil {
		ms = All(opts.Namespace)
		if opts.Target == 0 {
			opts.Target = Target
		}
	}
	if opts.Target <= 0 {
		return opts, nil, errors.New("run migrations: Options.Target must be positive when Options.Migrations is set")
	}
	return opts, ms, nil
}

// migrate runs the planned migrations from the version in cm, stamping after each.
func migrate(ctx context.Context, c client.Client, store versionStore, cm *corev1.ConfigMap, byNumber map[int]Migration, opts Options) (Result, error) {
	current, err := parseVersion(cm)
	if err != nil {
		return Result{}, err
	}
	res := Result{From: current, To: current}
	if current >= opts.Target {
		opts.Reporter.Note(fmt.Sprintf("ConfigMap %s is at version %d (target %d): nothing to migrate", store.name(), current, opts.Target))
		return res, nil
	}
	steps, err := plan(byNumber, current, opts.Target)
	if err != nil {
		return res, err
	}
	for _, m := range steps {
		if err := ctx.Err(); err != nil {
			return res, fmt.Errorf("run migration %d: %w", m.Number, err)
		}
		opts.Reporter.Start(m)
		if err := step(ctx, c, store, m); err != nil {
			opts.Reporter.Done(m, err)
			return res, err
		}
		opts.Reporter.Done(m, nil)
		res.To = m.Number + 1
		res.Applied = append(res.Applied, m.Number)
	}
	return res, nil
}

// step runs m and stamps its successor version.
func step(ctx context.Context, c client.Client, store versionStore, m Migration) error {
	if err := m.Run(ctx, c); err != nil {
		return fmt.Errorf("run migration %s: %w; the platform stays at version %d and a re-run resumes there", m, err, m.Number)
	}
	return store.advance(ctx, m.Number, m.Number+1)
}
