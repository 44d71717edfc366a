package releases

import (
	"fmt"
	"strings"
	"time"

	helmv2 "github.com/fluxcd/helm-controller/api/v2"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
	"github.com/cozylab/cozylab/operator/internal/artifacts"
)

// Settings are the HelmRelease knobs set by the operator's --helmrelease-* flags.
type Settings struct {
	Interval       time.Duration
	RetryInterval  time.Duration
	InstallTimeout time.Duration
	UpgradeTimeout time.Duration
	// MaxHistory is spec.maxHistory; 0 keeps every revision.
	MaxHistory int
	// MaxRetries caps failed install/upgrade attempts (then the release stalls and the Package
	// says so); 0 retries forever, as upstream does.
	MaxRetries int
}

// DefaultSettings are upstream's defaults.
var DefaultSettings = Settings{
	Interval: 5 * time.Minute, RetryInterval: 30 * time.Second,
	InstallTimeout: 10 * time.Minute, UpgradeTimeout: 10 * time.Minute, MaxHistory: 5,
}

// releaseName is the HelmRelease name of an installable component.
func releaseName(c *v1alpha1.Component) string {
	if c.Install.ReleaseName != "" {
		return c.Install.ReleaseName
	}
	return c.Name
}

// desired describes one HelmRelease to write.
type desired struct {
	component *v1alpha1.Component
	dependsOn []helmv2.DependencyReference
}

// buildHelmRelease renders the HelmRelease of component c of pkg.
func buildHelmRelease(pkg *v1alpha1.Package, ps *v1alpha1.PackageSource, variant string, d desired, privileged bool, s Settings) *helmv2.HelmRelease {
	c := d.component
	labels := map[string]string{v1alpha1.LabelPackage: pkg.Name}
	if privileged {
		labels[v1alpha1.LabelPrivileged] = "true"
	}
	var annotations map[string]string
	if len(c.ValuesFiles) > 0 {
		annotations = map[string]string{v1alpha1.AnnotationValuesFiles: strings.Join(c.ValuesFiles, ",")}
	}
	isController := true
	hr := &helmv2.HelmRelease{
		TypeMeta: metav1.TypeMeta{APIVersion: helmv2.GroupVersion.String(), Kind: helmv2.HelmReleaseKind},
		ObjectMeta: metav1.ObjectMeta{
			Name: releaseName(c), Namespace: c.Install.Namespace, Labels: labels, Annotations: annotations,
			OwnerReferences: []metav1.OwnerReference{{
				APIVersion: v1alpha1.GroupVersion.String(), Kind: "Package", Name: pkg.Name, UID: pkg.UID, Controller: &isController,
			}},
		},
		Spec: buildSpec(pkg, ps, variant, d, s),
	}
	return hr
}

func buildSpec(pkg *v1alpha1.Package, ps *v1alpha1.PackageSource, variant string, d desired, s Settings) helmv2.HelmReleaseSpec {
	c := d.component
	maxHistory := s.MaxHistory
	spec := helmv2.HelmReleaseSpec{
		Interval:   metav1.Duration{Duration: s.Interval},
		MaxHistory: &maxHistory,
		ChartRef: &helmv2.CrossNamespaceSourceReference{
			Kind: "ExternalArtifact", Name: artifacts.ArtifactName(ps.Name, variant, c.Name), Namespace: v1alpha1.SystemNamespace,
		},
		Install:          &helmv2.Install{Timeout: &metav1.Duration{Duration: s.InstallTimeout}},
		Upgrade:          &helmv2.Upgrade{Timeout: &metav1.Duration{Duration: s.UpgradeTimeout}, CRDs: helmv2.CRDsPolicy(c.Install.UpgradeCRDs)},
		HealthCheckExprs: c.Install.HealthCheckExprs,
		WaitStrategy:     waitStrategy(c.Install),
		DependsOn:        d.dependsOn,
	}
	retry := &metav1.Duration{Duration: s.RetryInterval}
	if s.MaxRetries > 0 {
		// Remediate with a bounded number of retries: helm-controller then marks the release
		// Stalled (RetriesExceeded), a terminal state the Package reports.
		spec.Install.Strategy = &helmv2.InstallStrategy{Name: string(helmv2.ActionStrategyRemediateOnFailure)}
		spec.Install.Remediation = &helmv2.InstallRemediation{Retries: s.MaxRetries}
		spec.Upgrade.Strategy = &helmv2.UpgradeStrategy{Name: string(helmv2.ActionStrategyRemediateOnFailure)}
		spec.Upgrade.Remediation = &helmv2.UpgradeRemediation{Retries: s.MaxRetries}
	} else {
		spec.Install.Strategy = &helmv2.InstallStrategy{Name: string(helmv2.ActionStrategyRetryOnFailure), RetryInterval: retry}
		spec.Upgrade.Strategy = &helmv2.UpgradeStrategy{Name: string(helmv2.ActionStrategyRetryOnFailure), RetryInterval: retry}
	}
	if ps.Annotations[v1alpha1.AnnotationSkipValues] != "true" {
		spec.ValuesFrom = []helmv2.ValuesReference{{Kind: "Secret", Name: v1alpha1.ValuesSecretName}}
	}
	if pc, ok := pkg.Spec.Components[c.Name]; ok && pc.Values != nil {
		spec.Values = &apiextensionsv1.JSON{Raw: pc.Values.Raw}
	}
	return spec
}

// waitStrategy: none when neither a strategy nor health checks are set; poller when only
// health checks are (they are evaluated by the poller alone); otherwise the one given.
func waitStrategy(in *v1alpha1.ComponentInstall) *helmv2.WaitStrategy {
	switch {
	case in.WaitStrategy != "":
		return &helmv2.WaitStrategy{Name: helmv2.WaitStrategyName(in.WaitStrategy)}
	case len(in.HealthCheckExprs) > 0:
		return &helmv2.WaitStrategy{Name: helmv2.WaitStrategyPoller}
	}
	return nil
}

// dependencyError is an invalid dependsOn (reason DependsOnFailed).
type dependencyError struct{ msg string }

func (e *dependencyError) Error() string { return e.msg }

func depErr(format string, args ...any) error {
	return &dependencyError{msg: fmt.Sprintf(format, args...)}
}

// componentDependsOn resolves install.dependsOn of c against the installable components of v.
func componentDependsOn(v *v1alpha1.Variant, c *v1alpha1.Component) ([]helmv2.DependencyReference, error) {
	var out []helmv2.DependencyReference
	for _, name := range c.Install.DependsOn {
		dep := findComponent(v, name)
		if dep == nil || dep.Install == nil {
			return nil, depErr("component %s depends on %s, which is not an installable component of variant %s", c.Name, name, v.Name)
		}
		if dep.Install.Namespace == "" {
			return nil, depErr("component %s of variant %s has no install.namespace", dep.Name, v.Name)
		}
		out = append(out, helmv2.DependencyReference{Name: releaseName(dep), Namespace: dep.Install.Namespace})
	}
	return out, nil
}

func findComponent(v *v1alpha1.Variant, name string) *v1alpha1.Component {
	for i := range v.Components {
		if v.Components[i].Name == name {
			return &v.Components[i]
		}
	}
	return nil
}

// packageDependsOn lists the enabled installable components of dependency package dep.
func packageDependsOn(dep *v1alpha1.Package, ps *v1alpha1.PackageSource) ([]helmv2.DependencyReference, error) {
	v, ok := ps.FindVariant(dep.ActiveVariant())
	if !ok {
		return nil, depErr("dependency %s: variant %s not found in PackageSource %s", dep.Name, dep.ActiveVariant(), ps.Name)
	}
	var out []helmv2.DependencyReference
	for i := range v.Components {
		c := &v.Components[i]
		if c.Install == nil || !dep.ComponentEnabled(c.Name) {
			continue
		}
		if c.Install.Namespace == "" {
			return nil, depErr("dependency %s: component %s has no install.namespace", dep.Name, c.Name)
		}
		out = append(out, helmv2.DependencyReference{Name: releaseName(c), Namespace: c.Install.Namespace})
	}
	return out, nil
}
