package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	sourcev1 "github.com/fluxcd/source-controller/api/v1"
	swv1 "github.com/fluxcd/source-watcher/api/v2/v1beta1"
	admissionv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/cozylab/cozylab/internal/condition"
	"github.com/cozylab/cozylab/internal/progress"
	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// PlatformPackage is the Package (and PackageSource) of the platform.
const PlatformPackage = "cozystack.cozystack-platform"

func scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, apiextensionsv1.AddToScheme, admissionv1.AddToScheme, v1alpha1.AddToScheme,
		helmv2.AddToScheme, sourcev1.AddToScheme, swv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // static registrations: a failure is a programming error
		}
	}
	return s
}

// waitOperator waits for the operator Deployment to be Available, the operator's CRDs to be
// Established, and the platform PackageSource to be Ready (which takes the operator, the platform
// OCIRepository pulled by source-controller and its ArtifactGenerator fulfilled).
func waitOperator(ctx context.Context, e *env, step progress.Step) error {
	dep := &appsv1.Deployment{}
	err := waitFor(ctx, e.c, step, "Deployment cozy-system/cozystack-operator Available", &appsv1.DeploymentList{},
		client.ObjectKey{Namespace: InstallerNS, Name: "cozystack-operator"}, dep, e.bound(3*time.Minute), func() (bool, string) {
			return deploymentAvailable(dep)
		})
	if err != nil {
		return err
	}
	for _, name := range []string{"packages.cozystack.io", "packagesources.cozystack.io"} {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		err := waitFor(ctx, e.c, step, "CRD "+name+" Established", &apiextensionsv1.CustomResourceDefinitionList{},
			client.ObjectKey{Name: name}, crd, e.bound(2*time.Minute), func() (bool, string) { return crdEstablished(crd) })
		if err != nil {
			return err
		}
	}
	ps := &v1alpha1.PackageSource{}
	err = waitFor(ctx, e.c, step, "PackageSource "+PlatformPackage+" Ready", &v1alpha1.PackageSourceList{},
		client.ObjectKey{Name: PlatformPackage}, ps, e.bound(5*time.Minute), func() (bool, string) {
			return readyCondition(ps.Status.Conditions)
		})
	if err != nil {
		return err
	}
	return waitSourcesCurrent(ctx, e, step)
}

// waitSourcesCurrent waits until the platform source serves what this run pushed and every
// ArtifactGenerator built from it has observed that artifact. On a lab that already ran a
// platform (a re-run, an upgrade), everything downstream is Ready on the previous artifact
// until then, and a wait for Ready would end before the new packages reach any release.
func waitSourcesCurrent(ctx context.Context, e *env, step progress.Step) error {
	repo := &sourcev1.OCIRepository{}
	key := client.ObjectKey{Namespace: InstallerNS, Name: platformSourceRef}
	err := waitFor(ctx, e.c, step, "OCIRepository "+key.String()+" serving the pushed packages", &sourcev1.OCIRepositoryList{},
		key, repo, e.bound(5*time.Minute), func() (bool, string) {
			a := repo.Status.Artifact
			if a == nil {
				return false, "no artifact yet"
			}
			if !strings.HasSuffix(a.Revision, e.pushed.packagesDigest) {
				return false, fmt.Sprintf("serves %s, not yet %s", a.Revision, e.pushed.packagesDigest)
			}
			return true, ""
		})
	if err != nil {
		return err
	}
	cond := condition.Condition{Name: "every ArtifactGenerator of the platform source current", Check: func(ctx context.Context) error {
		return generatorsCurrent(ctx, e.c, key)
	}}
	return condition.Wait(ctx, cond, condition.Poll{Interval: 500 * time.Millisecond, Timeout: e.bound(5 * time.Minute)}, condition.StepReporter(step))
}

// generatorsCurrent fails naming each ArtifactGenerator that takes the OCIRepository source
// and has not yet built from the current artifacts of its sources: its observedSourcesDigest,
// which source-watcher computes with the API module's HashObservedSources, differs from the
// digest of those artifacts, or it is not Ready. Generators with sources of other kinds are
// left alone.
func generatorsCurrent(ctx context.Context, c client.Client, source client.ObjectKey) error {
	gens := &swv1.ArtifactGeneratorList{}
	if err := c.List(ctx, gens); err != nil {
		return fmt.Errorf("list ArtifactGenerators: %w", err)
	}
	var behind []error
	for _, ag := range gens.Items {
		observed := map[string]swv1.ObservedSource{}
		mine, other := false, false
		for _, src := range ag.Spec.Sources {
			ns := cmp.Or(src.Namespace, ag.Namespace)
			if src.Kind != sourcev1.OCIRepositoryKind {
				other = true
				break
			}
			mine = mine || (ns == source.Namespace && src.Name == source.Name)
			repo := &sourcev1.OCIRepository{}
			if err := c.Get(ctx, client.ObjectKey{Namespace: ns, Name: src.Name}, repo); err != nil || repo.Status.Artifact == nil {
				other = true // not there yet: its own Ready says so
				break
			}
			a := repo.Status.Artifact
			observed[src.Alias] = swv1.ObservedSource{Digest: a.Digest, Revision: a.Revision, URL: a.URL}
		}
		if !mine || other {
			continue
		}
		want := swv1.HashObservedSources(observed)
		ready := apimeta.FindStatusCondition(ag.Status.Conditions, "Ready")
		switch {
		case ag.Status.ObservedSourcesDigest != want:
			behind = append(behind, fmt.Errorf("ArtifactGenerator %s/%s has not built from the current source artifacts yet", ag.Namespace, ag.Name))
		case ready == nil || ready.Status != metav1.ConditionTrue || ready.ObservedGeneration < ag.Generation:
			behind = append(behind, fmt.Errorf("ArtifactGenerator %s/%s not Ready", ag.Namespace, ag.Name))
		}
	}
	return errors.Join(behind...)
}

// platformPackage is the platform Package this run applies: the variant, the user's values and
// migrations on, as on a real platform — an upgrade's pre-upgrade hook runs them in a pod of
// the operator image this run pushed (a fresh install has nothing to migrate).
func platformPackage(e *env) (*v1alpha1.Package, error) {
	user, err := e.o.platformValues()
	if err != nil {
		return nil, err
	}
	values, err := json.Marshal(mergeValues(user, map[string]any{"migrations": map[string]any{"enabled": true, "image": e.pushed.operatorImage}}))
	if err != nil {
		return nil, fmt.Errorf("encode the platform values: %w", err)
	}
	return &v1alpha1.Package{
		TypeMeta:   metav1.TypeMeta{APIVersion: v1alpha1.GroupVersion.String(), Kind: "Package"},
		ObjectMeta: metav1.ObjectMeta{Name: PlatformPackage},
		Spec: v1alpha1.PackageSpec{Variant: e.o.Variant, Components: map[string]v1alpha1.PackageComponent{
			"platform": {Values: &apiextensionsv1.JSON{Raw: values}},
		}},
	}, nil
}

// pointMigrations, on a lab that already runs a platform, applies the platform Package with
// this run's operator image before the installer points the platform source at the new
// packages: the new platform chart's pre-upgrade hook then runs the new migrations, not the
// previous run's image (which knows only the old ones). On a fresh lab it does nothing.
func pointMigrations(ctx context.Context, e *env, step progress.Step) error {
	err := e.c.Get(ctx, client.ObjectKey{Name: PlatformPackage}, &v1alpha1.Package{})
	if apierrors.IsNotFound(err) || apimeta.IsNoMatchError(err) {
		step.Status("no platform yet: nothing to point")
		return nil
	}
	if err != nil {
		return fmt.Errorf("read Package %s: %w", PlatformPackage, err)
	}
	pkg, err := platformPackage(e)
	if err != nil {
		return err
	}
	step.Status("migrations image %s", e.pushed.operatorImage)
	if err := e.c.Patch(ctx, pkg, client.Apply, client.FieldOwner("cozylab-e2e"), client.ForceOwnership); err != nil {
		return fmt.Errorf("apply Package %s: %w", PlatformPackage, err)
	}
	return nil
}

// createPlatform creates (or updates) the platform Package with the chosen variant, after
// checking the variant exists.
func createPlatform(ctx context.Context, e *env, step progress.Step) error {
	ps := &v1alpha1.PackageSource{}
	if err := e.c.Get(ctx, client.ObjectKey{Name: PlatformPackage}, ps); err != nil {
		return fmt.Errorf("read PackageSource %s: %w", PlatformPackage, err)
	}
	var variants []string
	for _, v := range ps.Spec.Variants {
		variants = append(variants, v.Name)
	}
	if !slices.Contains(variants, e.o.Variant) {
		return fmt.Errorf("unknown platform variant %q: the PackageSource %s offers %s (set E2E_VARIANT)",
			e.o.Variant, PlatformPackage, strings.Join(variants, ", "))
	}
	pkg, err := platformPackage(e)
	if err != nil {
		return err
	}
	step.Status("variant %s", e.o.Variant)
	objs := append([]client.Object{pkg}, e.o.ExtraObjects...)
	for _, o := range objs {
		if err := e.c.Patch(ctx, o, client.Apply, client.FieldOwner("cozylab-e2e"), client.ForceOwnership); err != nil {
			return fmt.Errorf("apply %s %s: %w", o.GetObjectKind().GroupVersionKind().Kind, o.GetName(), err)
		}
	}
	return nil
}

func readyCondition(conds []metav1.Condition) (bool, string) {
	c := apimeta.FindStatusCondition(conds, "Ready")
	switch {
	case c == nil:
		return false, "no Ready condition yet"
	case c.Status == metav1.ConditionTrue:
		return true, ""
	}
	return false, fmt.Sprintf("%s: %s", c.Reason, c.Message)
}

func deploymentAvailable(d *appsv1.Deployment) (bool, string) {
	if d.Generation > d.Status.ObservedGeneration {
		return false, "generation not observed yet"
	}
	for _, c := range d.Status.Conditions {
		if c.Type == appsv1.DeploymentAvailable {
			if c.Status == corev1.ConditionTrue {
				return true, ""
			}
			return false, c.Reason + ": " + c.Message
		}
	}
	return false, "no Available condition yet"
}

func crdEstablished(crd *apiextensionsv1.CustomResourceDefinition) (bool, string) {
	for _, c := range crd.Status.Conditions {
		if c.Type == apiextensionsv1.Established && c.Status == apiextensionsv1.ConditionTrue {
			return true, ""
		}
	}
	return false, "not Established yet (the operator installs it on start)"
}
