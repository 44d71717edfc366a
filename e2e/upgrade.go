package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/cozylab/cozylab/internal/gitref"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/internal/release"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// UpgradeOptions configure Upgrade: the working tree's run (Options: RepoRoot is the working
// tree and its repository, Lab, Variant, ReportDir, Progress …) and where it starts.
type UpgradeOptions struct {
	Options
	// From is the starting revision of RepoRoot's repository (a tag, branch or commit); empty:
	// the last release, the commit that introduced release.json's version.
	From string
	// FromTree, when set, is the starting tree itself (a directory), instead of a revision.
	FromTree string
	// BeforeUpgrade, when set, runs between the install of From and the upgrade, with a client
	// of the lab (tests set the stage: an older platform version, an admission policy).
	BeforeUpgrade func(ctx context.Context, c client.Client) error
	// UpgradeFailAfter is the upgrade run's FailAfter (how long one release may keep failing);
	// Options.FailAfter applies to the install.
	UpgradeFailAfter time.Duration
}

// Side is one end of an upgrade.
type Side struct {
	// Name is how the side was asked for: the release version or revision, or "working tree".
	Name string
	// Commit is the starting commit, short; empty for the working tree.
	Commit string
	// Version is the release version of that tree (release.json); the working tree's is the
	// last release it builds on.
	Version string
	// MigrationTarget is the platform version its migrations lead to (the platform chart's
	// migrations.targetVersion).
	MigrationTarget int
}

func (s Side) String() string {
	if s.Commit == "" {
		return fmt.Sprintf("%s (after %s, platform version %d)", s.Name, s.Version, s.MigrationTarget)
	}
	return fmt.Sprintf("%s (%s, platform version %d)", s.Name, s.Commit, s.MigrationTarget)
}

// UpgradeResult is what an upgrade run measured and checked.
type UpgradeResult struct {
	From, To Side
	// Install and Upgrade are the two runs of the pipeline.
	Install, Upgrade Result
	// InstallTime is the install of From until every HelmRelease was Ready; UpgradeTime the
	// upgrade until every HelmRelease was Ready again.
	InstallTime, UpgradeTime time.Duration
	// Migrations are the migrations the upgrade's hook ran ("1 → 2: …"), in order.
	Migrations []string
	// Kept are the HelmReleases of both versions (same UID, no value lost); Removed those the
	// new version dropped; Added those it brought.
	Kept, Removed, Added []string
	// Diagnostics and Archive: the failing run's bundle.
	Diagnostics, Archive string
}

// Upgrade runs the upgrade lane: it exports the starting revision (the working tree is not
// touched), refuses a downgrade before anything changes, installs the starting version through
// the whole pipeline, records the platform's state, runs the pipeline again with the working
// tree (its operator, packages and installer chart: a helm upgrade and a new platform), and
// checks that the upgrade lost nothing: the platform version reached the tree's, the
// migrations between the two ran once each, every HelmRelease of both versions kept its UID
// and its values, the operator runs the new image and the values Secret with its replicas
// is intact.
func Upgrade(ctx context.Context, o UpgradeOptions) (UpgradeResult, error) {
	rep := o.Progress
	if rep == nil {
		rep = progress.Discard
		o.Progress = rep
	}
	var res UpgradeResult
	from, fromDir, cleanup, err := exportFrom(o)
	if err != nil {
		return res, err
	}
	defer cleanup()
	res.From = from
	if res.To, err = treeSide(o.RepoRoot, o.packagesDir()); err != nil {
		return res, err
	}
	if err := refuseDowngrade(res.From, res.To); err != nil {
		return res, err
	}
	if err := os.MkdirAll(o.ReportDir, 0o755); err != nil {
		return res, fmt.Errorf("create report directory: %w", err)
	}

	e := &env{o: o.Options}
	saved, resumed := upgradeState{}, false
	if e.connect() == nil {
		saved, resumed = loadUpgradeState(ctx, e.c, from)
		if !resumed {
			if err := refuseLiveDowngrade(ctx, e.c, from); err != nil {
				return res, err
			}
		}
	}
	var before platformState
	if resumed {
		// An earlier upgrade from the same start failed after its install: the platform
		// is that install, upgraded as far as it got; the upgrade goes on from there.
		rep.Begin("Installing " + from.String()).Skip(fmt.Sprintf("done by an earlier run (%s): resuming its upgrade", saved.Installed))
		before = saved.Before.state()
	} else {
		install := o.Options
		install.RepoRoot, install.Packages, install.Installer, install.Overlay, install.ExtraObjects = fromDir, "", "", nil, nil
		install.ReportDir, install.PushTag = filepath.Join(o.ReportDir, "from"), from.Version
		step := rep.Begin("Installing " + from.String())
		res.Install, err = Run(ctx, install)
		res.InstallTime = untilReady(res.Install.Actions)
		if step.Done(err) != nil {
			res.Diagnostics, res.Archive = res.Install.Diagnostics, res.Install.Archive
			return res, fmt.Errorf("install %s: %w", from.Name, err)
		}
		if err := e.connect(); err != nil {
			return res, err
		}
		if o.BeforeUpgrade != nil {
			if err := o.BeforeUpgrade(ctx, e.c); err != nil {
				return res, fmt.Errorf("before the upgrade: %w", err)
			}
		}
		if before, err = snapshot(ctx, e.c); err != nil {
			return res, err
		}
		saved = upgradeState{From: from.Commit, Installed: time.Now().UTC().Format(time.RFC3339), Before: savedState(before)}
		if err := saveUpgradeState(ctx, e.c, saved); err != nil {
			return res, err
		}
	}

	up := o.Options
	up.ReportDir = filepath.Join(o.ReportDir, "to")
	if o.UpgradeFailAfter > 0 {
		up.FailAfter = o.UpgradeFailAfter
	}
	step := rep.Begin(fmt.Sprintf("Upgrading to %s", res.To))
	upStart := time.Now()
	res.Upgrade, err = Run(ctx, up)
	res.UpgradeTime = untilReady(res.Upgrade.Actions)
	described, failedMigration := hookMigrations(ctx, e, upStart)
	if now, serr := snapshot(ctx, e.c); serr == nil {
		res.Migrations = migrationsRun(before.history, now.history, described)
	}
	if step.Done(err) != nil {
		res.Diagnostics, res.Archive = res.Upgrade.Diagnostics, res.Upgrade.Archive
		if failedMigration != "" {
			err = fmt.Errorf("migration %s; %w", failedMigration, err)
		}
		return res, fmt.Errorf("upgrade to %s: %w", res.To.Name, err)
	}

	step = rep.Begin("Checking the upgrade")
	err = checkUpgrade(ctx, e, before, &res, step)
	if step.Done(err) != nil {
		res.Diagnostics, res.Archive = collect(ctx, e, fmt.Errorf("check the upgrade: %w", err))
		return res, fmt.Errorf("check the upgrade from %s to %s: %w", res.From.Name, res.To.Name, err)
	}
	return res, deleteUpgradeState(ctx, e.c)
}

// exportFrom resolves the starting revision and exports its tree into a temporary directory.
func exportFrom(o UpgradeOptions) (Side, string, func(), error) {
	var side Side
	if o.FromTree != "" {
		side.Name, side.Commit, side.Version = cmp.Or(o.From, o.FromTree), "tree", "unreleased"
		if rec, err := release.Load(o.FromTree); err == nil {
			side.Version = rec.Version
		}
		var err error
		if side.MigrationTarget, err = migrationTarget(filepath.Join(o.FromTree, "packages")); err != nil {
			return side, "", nil, err
		}
		return side, o.FromTree, func() {}, nil
	}
	rev := o.From
	if rev == "" {
		rec, c, err := release.Commit(o.RepoRoot)
		if err != nil {
			return side, "", nil, fmt.Errorf("the upgrade lane's default start, the last release: %w (or set E2E_FROM=<git ref>)", err)
		}
		side.Name, rev = rec.Version, c.Hash.String()
	}
	dir, err := os.MkdirTemp("", "cozylab-upgrade-from-")
	if err != nil {
		return side, "", nil, err
	}
	cleanup := func() { _ = os.RemoveAll(dir) }
	c, err := gitref.Export(o.RepoRoot, rev, dir)
	if err != nil {
		cleanup()
		return side, "", nil, fmt.Errorf("E2E_FROM=%q: %w", rev, err)
	}
	side.Commit = c.Short()
	if side.Name == "" {
		side.Name = o.From
	}
	side.Version = "unreleased"
	if rec, err := release.Load(dir); err == nil {
		side.Version = rec.Version
	}
	if side.MigrationTarget, err = migrationTarget(filepath.Join(dir, "packages")); err != nil {
		cleanup()
		return side, "", nil, fmt.Errorf("%s: %w", side.Name, err)
	}
	return side, dir, cleanup, nil
}

// treeSide describes the working tree.
func treeSide(root, packages string) (Side, error) {
	side := Side{Name: "working tree", Version: "unreleased"}
	if rec, err := release.Load(root); err == nil {
		side.Version = rec.Version
	}
	var err error
	side.MigrationTarget, err = migrationTarget(packages)
	return side, err
}

// migrationTarget reads the platform version a packages tree's platform chart leads to.
func migrationTarget(packages string) (int, error) {
	raw, err := os.ReadFile(filepath.Join(packages, "core", "platform", "values.yaml"))
	if err != nil {
		return 0, fmt.Errorf("read the platform chart's values: %w", err)
	}
	var v struct {
		Migrations struct {
			TargetVersion int `json:"targetVersion"`
		} `json:"migrations"`
	}
	if err := yaml.Unmarshal(raw, &v); err != nil {
		return 0, fmt.Errorf("parse the platform chart's values: %w", err)
	}
	return v.Migrations.TargetVersion, nil
}

// refuseDowngrade refuses a start newer than the tree: a later release, or a platform version
// the tree's migrations do not reach.
func refuseDowngrade(from, to Side) error {
	fv, ferr := release.Parse(from.Version)
	tv, terr := release.Parse(to.Version)
	if ferr == nil && terr == nil && fv.GreaterThan(tv) {
		return fmt.Errorf("refusing a downgrade: the start %s is release %s, newer than the working tree's %s; nothing was changed",
			from.Name, from.Version, to.Version)
	}
	if from.MigrationTarget > to.MigrationTarget {
		return fmt.Errorf("refusing a downgrade: the start %s brings platform version %d, the working tree only %d; nothing was changed",
			from.Name, from.MigrationTarget, to.MigrationTarget)
	}
	return nil
}

// refuseLiveDowngrade refuses to install the start on a lab whose platform is already at a
// newer version than the start brings (installing it would be a downgrade of that platform).
func refuseLiveDowngrade(ctx context.Context, c client.Client, from Side) error {
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: InstallerNS, Name: "cozystack-version"}, cm); err != nil {
		return nil // no platform (or no lab) yet
	}
	if v, err := strconv.Atoi(cm.Data["version"]); err == nil && v > from.MigrationTarget {
		return fmt.Errorf("refusing a downgrade: the lab already runs platform version %d, the start %s brings %d; nothing was changed (use a fresh lab: LAB_NAME=<new> or lab:down)",
			v, from.Name, from.MigrationTarget)
	}
	return nil
}

// untilReady is how long a run took until every HelmRelease was Ready: its actions up to and
// including that wait (the lab's start included for an install).
func untilReady(actions []ActionResult) time.Duration {
	var d time.Duration
	for _, a := range actions {
		d += a.Duration
		if a.Name == "wait for every HelmRelease" {
			return d
		}
	}
	return 0
}

// platformState is what an upgrade must keep.
type platformState struct {
	version string
	// history is cozystack-version's record of the migrations run, one per line.
	history  []string
	releases map[string]hrState
	// values are the values Secrets by namespace: the platform's and its replicas.
	values map[string]map[string][]byte
}

type hrState struct {
	uid        string
	values     map[string]any
	valuesFrom []helmv2.ValuesReference
	pkg        string // the Package that made it (label), if any
}

func snapshot(ctx context.Context, c client.Client) (platformState, error) {
	s := platformState{releases: map[string]hrState{}, values: map[string]map[string][]byte{}}
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: InstallerNS, Name: "cozystack-version"}, cm); err != nil {
		return s, fmt.Errorf("read ConfigMap cozystack-version: %w", err)
	}
	s.version = cm.Data["version"]
	for _, line := range strings.Split(cm.Data["history"], "\n") {
		if line = strings.TrimSpace(line); line != "" {
			s.history = append(s.history, line)
		}
	}
	hrs := &helmv2.HelmReleaseList{}
	if err := c.List(ctx, hrs); err != nil {
		return s, fmt.Errorf("list HelmReleases: %w", err)
	}
	for _, hr := range hrs.Items {
		st := hrState{uid: string(hr.UID), valuesFrom: hr.Spec.ValuesFrom, pkg: hr.Labels[v1alpha1.LabelPackage]}
		if hr.Spec.Values != nil && len(hr.Spec.Values.Raw) > 0 {
			if err := yaml.Unmarshal(hr.Spec.Values.Raw, &st.values); err != nil {
				return s, fmt.Errorf("HelmRelease %s/%s: read values: %w", hr.Namespace, hr.Name, err)
			}
		}
		s.releases[hr.Namespace+"/"+hr.Name] = st
	}
	secrets := &corev1.SecretList{}
	if err := c.List(ctx, secrets, client.MatchingFields{"metadata.name": v1alpha1.ValuesSecretName}); err != nil {
		return s, fmt.Errorf("list the values Secrets: %w", err)
	}
	for _, sec := range secrets.Items {
		s.values[sec.Namespace] = sec.Data
	}
	return s, nil
}

// checkUpgrade compares the platform after the upgrade with before.
func checkUpgrade(ctx context.Context, e *env, before platformState, res *UpgradeResult, step progress.Step) error {
	after, err := snapshot(ctx, e.c)
	if err != nil {
		return err
	}
	var errs []error
	if want := strconv.Itoa(res.To.MigrationTarget); after.version != want {
		errs = append(errs, fmt.Errorf("cozystack-version is %s, want %s (the working tree's migrations target)", after.version, want))
	}
	from, _ := strconv.Atoi(before.version)
	var want []string
	for n := from; n < res.To.MigrationTarget; n++ {
		want = append(want, fmt.Sprintf("%d → %d", n, n+1))
	}
	ran := migrationsRun(before.history, after.history, nil)
	if !slices.Equal(want, ran) {
		errs = append(errs, fmt.Errorf("migrations run (cozystack-version's history): %v, want each of %v once, in order", ran, want))
	}
	step.Status("platform version %s → %s, migrations run: %d", before.version, after.version, len(ran))

	for _, key := range slices.Sorted(maps.Keys(before.releases)) {
		b := before.releases[key]
		a, ok := after.releases[key]
		if !ok {
			res.Removed = append(res.Removed, key)
			continue
		}
		if a.uid != b.uid {
			errs = append(errs, fmt.Errorf("HelmRelease %s was deleted and created again (UID %s → %s)", key, b.uid, a.uid))
			continue
		}
		if lost := lostValues("", b.values, a.values); len(lost) > 0 {
			errs = append(errs, fmt.Errorf("HelmRelease %s lost values: %s", key, strings.Join(lost, ", ")))
		}
		for _, ref := range b.valuesFrom {
			if !slices.Contains(a.valuesFrom, ref) {
				errs = append(errs, fmt.Errorf("HelmRelease %s lost valuesFrom %s %s", key, ref.Kind, ref.Name))
			}
		}
		res.Kept = append(res.Kept, key)
	}
	for _, key := range slices.Sorted(maps.Keys(after.releases)) {
		if _, ok := before.releases[key]; !ok {
			res.Added = append(res.Added, key)
		}
	}
	// A release the new version dropped must be gone: one left whose Package no longer exists
	// was orphaned.
	for _, key := range slices.Sorted(maps.Keys(after.releases)) {
		pkg := after.releases[key].pkg
		if pkg == "" {
			continue
		}
		if err := e.c.Get(ctx, client.ObjectKey{Name: pkg}, &v1alpha1.Package{}); apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("HelmRelease %s outlived its Package %s", key, pkg))
		}
	}
	step.Status("%d HelmReleases kept (same UID, no value lost), %d removed, %d added", len(res.Kept), len(res.Removed), len(res.Added))

	for ns, data := range before.values {
		now, ok := after.values[ns]
		switch {
		case !ok:
			errs = append(errs, fmt.Errorf("Secret %s/%s is gone", ns, v1alpha1.ValuesSecretName))
		case !maps.EqualFunc(data, now, func(a, b []byte) bool { return string(a) == string(b) }):
			errs = append(errs, fmt.Errorf("Secret %s/%s changed in the upgrade", ns, v1alpha1.ValuesSecretName))
		}
	}

	dep := &appsv1.Deployment{}
	if err := e.c.Get(ctx, client.ObjectKey{Namespace: InstallerNS, Name: "cozystack-operator"}, dep); err != nil {
		errs = append(errs, fmt.Errorf("read the operator Deployment: %w", err))
	} else if img := dep.Spec.Template.Spec.Containers[0].Image; img != res.Upgrade.OperatorImage {
		errs = append(errs, fmt.Errorf("the operator Deployment runs %s, not the working tree's %s", img, res.Upgrade.OperatorImage))
	}
	return errors.Join(errs...)
}

// migrationsRun are the migrations ("N → N+1") the history after has beyond the history
// before, each with its description where the hook's log gave one ("N → N+1: what").
func migrationsRun(before, after []string, described []string) []string {
	var out []string
	for i, line := range after {
		if i < len(before) && before[i] == line {
			continue
		}
		_, step, _ := strings.Cut(line, " ") // "<time> N → N+1"
		for _, d := range described {
			if strings.HasPrefix(d, step+":") {
				step = d
				break
			}
		}
		out = append(out, step)
	}
	return out
}

// lostValues lists the value paths of before that after no longer has.
func lostValues(prefix string, before, after map[string]any) []string {
	var lost []string
	for _, k := range slices.Sorted(maps.Keys(before)) {
		path := strings.TrimPrefix(prefix+"."+k, ".")
		av, ok := after[k]
		if !ok {
			lost = append(lost, path)
			continue
		}
		if bm, ok := before[k].(map[string]any); ok {
			am, _ := av.(map[string]any)
			lost = append(lost, lostValues(path, bm, am)...)
		}
	}
	return lost
}

// hookMigrations reads the logs of the migration hook's pods created since the upgrade began:
// the migrations they ran, with their descriptions (each once, however often the hook
// retried), and the last one that failed, with its error.
func hookMigrations(ctx context.Context, e *env, since time.Time) (ran []string, failed string) {
	cs, err := kubernetes.NewForConfig(e.cfg)
	if err != nil {
		return nil, ""
	}
	// Every hook pod of this upgrade (Helm retries the upgrade, each time with a new Job; the
	// pods of the deleted ones linger until garbage collection), not those of an earlier
	// upgrade's Job, kept for inspection.
	pods := &corev1.PodList{}
	if err := e.c.List(ctx, pods, client.InNamespace(InstallerNS), client.MatchingLabels{batchv1.JobNameLabel: migrationHookJob}); err != nil {
		return nil, ""
	}
	slices.SortFunc(pods.Items, func(a, b corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	for _, p := range pods.Items {
		if p.CreationTimestamp.Time.Before(since.Truncate(time.Second)) {
			continue
		}
		raw, err := cs.CoreV1().Pods(p.Namespace).GetLogs(p.Name, &corev1.PodLogOptions{}).DoRaw(ctx)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n") {
			line = strings.TrimSpace(line)
			if m, ok := strings.CutPrefix(line, "✓ migration "); ok && !slices.Contains(ran, m) {
				ran = append(ran, m)
			}
			if m, ok := strings.CutPrefix(line, "✗ migration "); ok {
				failed = m
			}
		}
	}
	return ran, failed
}

// migrationHookJob is the platform chart's pre-upgrade Job (core/platform/templates/migration-hook.yaml).
const migrationHookJob = "cozystack-migration-hook"

// upgradeState is what an upgrade records in the lab once its install is done, so a re-run
// after a failed upgrade (a migration that failed, fixed since) resumes it: the state before
// the upgrade (cozystack-version's history then tells which migrations ran since). It is
// removed when an upgrade passes its checks.
type upgradeState struct {
	// From is the starting commit the install was made from.
	From       string        `json:"from"`
	Installed  string        `json:"installed"`
	Before     savedPlatform `json:"before"`
	Migrations []string      `json:"migrations,omitempty"`
}

// upgradeStateName is the ConfigMap in the installer's namespace holding an upgrade's state.
const upgradeStateName = "cozylab-upgrade"

type savedPlatform struct {
	Version  string                       `json:"version"`
	History  []string                     `json:"history,omitempty"`
	Releases map[string]savedRelease      `json:"releases"`
	Values   map[string]map[string][]byte `json:"values"`
}

type savedRelease struct {
	UID        string                   `json:"uid"`
	Values     map[string]any           `json:"values,omitempty"`
	ValuesFrom []helmv2.ValuesReference `json:"valuesFrom,omitempty"`
	Package    string                   `json:"package,omitempty"`
}

func savedState(s platformState) savedPlatform {
	out := savedPlatform{Version: s.version, History: s.history, Releases: map[string]savedRelease{}, Values: s.values}
	for k, r := range s.releases {
		out.Releases[k] = savedRelease{UID: r.uid, Values: r.values, ValuesFrom: r.valuesFrom, Package: r.pkg}
	}
	return out
}

func (s savedPlatform) state() platformState {
	out := platformState{version: s.Version, history: s.History, releases: map[string]hrState{}, values: s.Values}
	for k, r := range s.Releases {
		out.releases[k] = hrState{uid: r.UID, values: r.Values, valuesFrom: r.ValuesFrom, pkg: r.Package}
	}
	return out
}

// loadUpgradeState returns the state of an earlier upgrade from the same start, if the lab has one.
func loadUpgradeState(ctx context.Context, c client.Client, from Side) (upgradeState, bool) {
	cm := &corev1.ConfigMap{}
	if err := c.Get(ctx, client.ObjectKey{Namespace: InstallerNS, Name: upgradeStateName}, cm); err != nil {
		return upgradeState{}, false
	}
	var st upgradeState
	if json.Unmarshal([]byte(cm.Data["state"]), &st) != nil || st.From != from.Commit {
		return upgradeState{}, false
	}
	return st, true
}

func saveUpgradeState(ctx context.Context, c client.Client, st upgradeState) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	cm := &corev1.ConfigMap{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "ConfigMap"},
		ObjectMeta: metav1.ObjectMeta{Namespace: InstallerNS, Name: upgradeStateName},
		Data:       map[string]string{"state": string(raw)},
	}
	if err := c.Patch(ctx, cm, client.Apply, client.FieldOwner("cozylab-e2e"), client.ForceOwnership); err != nil {
		return fmt.Errorf("record the upgrade's state: %w", err)
	}
	return nil
}

func deleteUpgradeState(ctx context.Context, c client.Client) error {
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: InstallerNS, Name: upgradeStateName}}
	if err := client.IgnoreNotFound(c.Delete(ctx, cm)); err != nil {
		return fmt.Errorf("remove the upgrade's state: %w", err)
	}
	return nil
}
