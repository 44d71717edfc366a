package releasewait

import (
	"testing"

	"github.com/stretchr/testify/assert"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/cozylab/cozylab/operator/api/v1alpha1"
)

// pkgAt builds a Package at generation 2 with the given conditions.
func pkgAt(conds ...metav1.Condition) *v1alpha1.Package {
	p := &v1alpha1.Package{}
	p.Name, p.Generation = "cozystack.x", 2
	p.Status.Conditions = conds
	return p
}

func TestClassifyPackage(t *testing.T) {
	tests := []struct {
		name    string
		pkg     *v1alpha1.Package
		state   State
		reason  string
		message string
	}{
		{"not reconciled yet", pkgAt(), Progressing, "NotReconciled", "no Ready condition yet"},
		{"ready", pkgAt(cond("Ready", metav1.ConditionTrue, "ReconciliationSucceeded", "generated 2 helmrelease(s)", 2)),
			Ready, "ReconciliationSucceeded", "generated 2 helmrelease(s)"},
		{"ready for an older generation", pkgAt(cond("Ready", metav1.ConditionTrue, "ReconciliationSucceeded", "generated 1 helmrelease(s)", 1)),
			Progressing, "Progressing", "generation 2 not observed yet (last: ReconciliationSucceeded: generated 1 helmrelease(s))"},
		{"a condition without a generation is older", pkgAt(cond("Ready", metav1.ConditionTrue, "ReconciliationSucceeded", "ok", 0)),
			Progressing, "Progressing", "generation 2 not observed yet (last: ReconciliationSucceeded: ok)"},
		{"dependencies", pkgAt(cond("Ready", metav1.ConditionFalse, "DependenciesNotReady", "cozystack.a not ready", 2)),
			WaitingOnDependency, "DependenciesNotReady", "cozystack.a not ready"},
		{"variant not found", pkgAt(cond("Ready", metav1.ConditionFalse, "VariantNotFound", "Variant x not found", 2)),
			Failing, "VariantNotFound", "Variant x not found"},
		{"unknown", pkgAt(cond("Ready", metav1.ConditionUnknown, "Reconciling", "", 2)), Progressing, "Reconciling", ""},
		{"only ReleasesReady", pkgAt(cond("ReleasesReady", metav1.ConditionTrue, "AllReleasesReady", "", 2)),
			Progressing, "NotReconciled", "no Ready condition yet"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := ClassifyPackage(tt.pkg)
			assert.Equal(t, tt.state, o.State, "state %s", o.State)
			assert.Equal(t, tt.reason, o.Reason)
			assert.Equal(t, tt.message, o.Message)
			assert.Equal(t, "cozystack.x", o.Key())
			assert.Equal(t, "Package cozystack.x", o.Ref())
		})
	}
}

func TestClassifyPackageDependsOn(t *testing.T) {
	p := pkgAt(cond("Ready", metav1.ConditionFalse, "DependenciesNotReady", "One or more dependencies are not ready: cozystack.b", 2))
	p.Status.Dependencies = map[string]v1alpha1.DependencyStatus{"cozystack.b": {}, "cozystack.a": {Ready: true}}
	assert.Equal(t, []string{"cozystack.a", "cozystack.b"}, ClassifyPackage(p).DependsOn)
	assert.Nil(t, ClassifyPackage(pkgAt()).DependsOn)
}
